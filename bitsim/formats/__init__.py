"""Format specifications and the catalog of named formats."""

from bitsim.formats.catalog import ENTRIES, CatalogEntry, entry, lookup
from bitsim.formats.spec import FixedFormat, FloatFormat, code_dtype

__all__ = ["FloatFormat", "FixedFormat", "CatalogEntry", "ENTRIES", "lookup", "entry", "code_dtype", "format"]


def format(spec):
    """A format spec from a catalog/generic name, or a FloatFormat/FixedFormat returned as-is."""
    if isinstance(spec, (FloatFormat, FixedFormat)):
        return spec
    if isinstance(spec, str):
        return lookup(spec)
    raise TypeError(f"format must be a name or a FloatFormat/FixedFormat, got {type(spec).__name__}")
