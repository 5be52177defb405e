"""Every table of each database. The capabilities' ``models`` modules map their tables onto the two metadata
objects of ``base`` when imported; importing them all here gives the migrations, and the test that checks
the migrations against the models, the whole schema of each database without ``base`` importing anyone."""

from __future__ import annotations

from sqlalchemy import MetaData

from trustspace.store import base
from trustspace.store.dsp import models as _dsp_models  # noqa: F401
from trustspace.store.ledger import models as _ledger_models  # noqa: F401
from trustspace.store.membership import models as _membership_models  # noqa: F401
from trustspace.store.usage import counter_models as _usage_counter_models  # noqa: F401
from trustspace.store.usage import models as _usage_models  # noqa: F401

OPERATOR_METADATA: MetaData = base.OperatorBase.metadata
CONNECTOR_METADATA: MetaData = base.ConnectorBase.metadata
