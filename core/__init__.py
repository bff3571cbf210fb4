"""Neural Atelier core: neural style transfer and example-based texture synthesis.

This package never imports bpy. Blender reaches it only through `python -m core worker`.
"""
__version__ = "0.1.0"
