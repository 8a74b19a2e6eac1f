"""``record_data`` for zvt-ccxt schemas: every keyword (``exchange=``, ``symbols=``...) reaches the recorder.

zvt's own ``Mixin.record_data`` forwards extra keywords only to ``FixedCycleDataRecorder`` subclasses and
prints to stdout; this override hands everything to the registered recorder and returns its summary.
"""

from __future__ import annotations

from typing import Any

PROVIDER = "ccxt"


class CcxtRecordable:
    """Mixin for schemas recorded by zvt-ccxt."""

    #: filled by zvt's ``register_schema`` on the schema classes this is mixed into
    providers: list[str]

    @classmethod
    def record_data(cls, provider: str | None = None, provider_index: int = 0, **kwargs: Any):
        provider = provider or cls.providers[provider_index]
        recorder_cls = getattr(cls, "provider_map_recorder", {}).get(provider)
        if recorder_cls is None:
            from zvt_ccxt.errors import CapabilityNotSupportedError

            raise CapabilityNotSupportedError(provider, f"recording {cls.__name__}")
        if kwargs.get("scheduler") is not None or kwargs.get("client") is not None:
            # the same recorder, run as jobs on a Dask cluster (the ``cluster`` extra)
            from zvt_ccxt.cluster import record

            return record(cls, **kwargs)
        kwargs.pop("scheduler", None)
        kwargs.pop("client", None)
        recorder = recorder_cls(data_schema=cls, **kwargs)
        return recorder.run()
