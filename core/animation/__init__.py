"""Render passes guide the style: temporally coherent animation from the Vector pass, structure from
Depth and Normal, per-material/object styles from the index passes.

Modules, one job each:
    frames     read a frame: Blender multilayer EXR (OpenEXR) or PNG/TIFF plus a Vector file
    display    scene-linear -> display colour with OpenColorIO (Blender's own config and view)
    motion     Blender's Vector pass convention, warping, forward/backward reliability mask, flicker
    guidance   depth/normal edge maps, per-pixel content weight, depth bands, index masks
    regions    which style goes where in a frame (materials, objects, world, depth bands)
    terms      the guides of one frame and the loss terms they add to the style objective
    sequence   stylize frames in order with the temporal term and warped initialisation; resume
    job        the worker's `animate` request
    cli        `python -m core animate FRAMES... --style STYLE -o OUTDIR`
"""
