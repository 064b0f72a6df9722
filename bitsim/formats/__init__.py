"""Format specifications and the catalog of named formats."""

from bitsim.formats.catalog import ENTRIES, CatalogEntry, entry, lookup
from bitsim.formats.spec import FixedFormat, FloatFormat, code_dtype

__all__ = ["FloatFormat", "FixedFormat", "CatalogEntry", "ENTRIES", "lookup", "entry", "code_dtype", "format"]


def format(spec):
    """A format spec from a catalog/generic name (element formats, then block formats such as
    ``mxfp8_e4m3``, ``bfp8`` and the Block Minifloat configurations ``bm8``...), or a spec returned as-is."""
    from bitsim.blocks.catalog import lookup_block
    from bitsim.blocks.spec import BlockFormat, BlockMinifloat

    if isinstance(spec, (FloatFormat, FixedFormat, BlockFormat, BlockMinifloat)):
        return spec
    if isinstance(spec, str):
        try:
            return lookup(spec)
        except ValueError:
            block = lookup_block(spec)
            if block is None:
                raise
            return block
    raise TypeError(f"format must be a name or a FloatFormat/FixedFormat/BlockFormat, got {type(spec).__name__}")
