"""Neural style transfer.

    from core.style import stylize, stylize_ex, StyleOptions, StyleResult

`stylize(content, style, options=None, *, masks=None, progress=None, cancel=None) -> np.ndarray`
`stylize_ex(...) -> StyleResult` (image, losses, device, backbone, steps, seconds, notes)
`StyleOptions.from_dict(d)` validates a job spec (UserError naming the bad field).
"""
from .engine import StyleResult, stylize, stylize_ex
from .options import StyleOptions

__all__ = ["stylize", "stylize_ex", "StyleOptions", "StyleResult"]
