"""Request and response bodies of the public API, one module per resource.

Each response model builds itself from what storage returns (``FacilityOut.of(facility)``), so
the shape a client sees is written once, here. The names below are the ones ``api.schemas``
has always offered.
"""

from api.schemas.common import (
    MAX_PAGE,
    PRINTABLE,
    CursorFields,
    Pagination,
    inline_schema,
    request_body,
)
from api.schemas.facilities import (
    FacilityIn,
    FacilityOut,
    FacilityPage,
    FacilityPatch,
    Role,
    TagIn,
    TagList,
    TagOut,
    TagPatch,
    TagRules,
)
from api.schemas.jobs import JobOut, JobPage, LogLine, RejectedRowOut, RejectedRowPage
from api.schemas.points import (
    CSV_UPLOAD,
    POINT_BATCH,
    POINT_EXAMPLE,
    Accepted,
    ArchivedRangeOut,
    DataPointOut,
    DataPointPage,
)

__all__ = [
    "CSV_UPLOAD",
    "MAX_PAGE",
    "POINT_BATCH",
    "POINT_EXAMPLE",
    "PRINTABLE",
    "Accepted",
    "ArchivedRangeOut",
    "CursorFields",
    "DataPointOut",
    "DataPointPage",
    "FacilityIn",
    "FacilityOut",
    "FacilityPage",
    "FacilityPatch",
    "JobOut",
    "JobPage",
    "LogLine",
    "Pagination",
    "RejectedRowOut",
    "RejectedRowPage",
    "Role",
    "TagIn",
    "TagList",
    "TagOut",
    "TagPatch",
    "TagRules",
    "inline_schema",
    "request_body",
]
