"""Instant style transfer with a pretrained feed-forward network (Magenta arbitrary style).

    from core.fast import stylize_fast, FastOptions
    result = stylize_fast(content, style, FastOptions(strength=0.8))   # -> core.style StyleResult
"""
from .stylize import DEFAULT_WORKING_EDGE, FastOptions, stylize_fast

__all__ = ["stylize_fast", "FastOptions", "DEFAULT_WORKING_EDGE"]
