"""Feature extractors used by the style engine (and reused by the texture GAN for statistics).

One module per model, torchvision style:
- `vgg19`: torchvision's ImageNet VGG-19, truncated to the layers a job uses.
- `offline`: a fixed-seed random-filter network that needs no download at all.

Both are nn.Modules whose forward takes a B×3×H×W batch in 0..1 (display-referred sRGB) and
returns a dict of named feature maps. Each also exposes `content_layers`, `style_layers`
(name -> weight), `align` (total stride of the deepest tap: tile origins and tileable sizes
must be multiples of it) and `halo` (context in pixels a tile needs around it).
"""
