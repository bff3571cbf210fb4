"""Neural style transfer.

    from core.style import stylize, StyleOptions, StyleResult

`stylize(content, style, options=None, *, masks=None, progress=None, cancel=None) -> StyleResult`
(image, losses, device, backbone, steps, seconds, notes)
`StyleOptions.from_dict(d)` validates a job spec (UserError naming the bad field).
"""
from .engine import StyleResult, stylize
from .options import StyleOptions

__all__ = ["stylize", "StyleOptions", "StyleResult"]
