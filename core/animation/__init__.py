"""Render passes guide the style: temporally coherent animation from the Vector pass, structure from
Depth and Normal, per-material styles from the Material Index pass.

Modules, one job each:
    frames     read a frame: Blender multilayer EXR (OpenEXR) or PNG/TIFF plus a Vector file
    display    scene-linear -> display colour with OpenColorIO (Blender's own config and view)
    motion     Blender's Vector pass convention, warping, forward/backward reliability mask
    guidance   depth/normal edge maps, per-pixel content weight, depth bands, index masks
    sequence   stylize frames in order with a temporal term and warped initialisation
    cli        `python -m core animate FRAMES... --style STYLE -o OUTDIR`
"""
