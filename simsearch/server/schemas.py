"""Request and response bodies of the HTTP API (pydantic): what OpenAPI describes and what every
request is validated against before it reaches the index.

Numbers are finite (JSON has no NaN, but Python's parser accepts `NaN` and `Infinity`: refused
here), strings are valid Unicode without NUL, and unknown fields are refused. Texts, ids,
metadata and the radius are held to the limits of `simsearch.validation`, the CLI's too, so that
whatever is accepted can be read back and searched. Limits that depend on the server's settings
(`k`, batch sizes) are checked by the routes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    model_validator,
)

from simsearch.search.where import MAX_DEPTH, Where
from simsearch.validation import MAX_ID_CHARS, MAX_RADIUS, MAX_TEXT_CHARS, metadata_json

__all__ = [
    "AddRequest",
    "CompareRequest",
    "CompareResponse",
    "DeleteRequest",
    "ErrorBody",
    "Id",
    "IdentifyRequest",
    "IdentifyResponse",
    "Item",
    "ItemsResponse",
    "LabelRequest",
    "MemberRequest",
    "RetrainRequest",
    "SearchRequest",
    "SearchResponse",
    "StatsResponse",
    "ValidationErrorBody",
    "WriteResponse",
    "error_responses",
]


def _plain_text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("Expected valid Unicode text. Received: a lone surrogate") from exc
    if "\x00" in value:
        raise ValueError("Expected text without NUL characters. Received: a NUL character")
    return value


def _metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None:
        metadata_json(value, "metadata")  # a DataError is a ValueError: a 422 naming the limit
    return value


Text = Annotated[StrictStr, Field(max_length=MAX_TEXT_CHARS), AfterValidator(_plain_text)]
# An item's string may be a base64 image, longer than a text: text items are held to
# MAX_TEXT_CHARS when decoded (`simsearch.server.items`).
ItemText = Annotated[StrictStr, AfterValidator(_plain_text)]
StrId = Annotated[StrictStr, Field(min_length=1, max_length=MAX_ID_CHARS), AfterValidator(_plain_text)]
IntId = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
Id = IntId | StrId
Scalar = Text | StrictInt | FiniteFloat | StrictBool | None
Record = dict[Text, Scalar]
Item = Annotated[
    ItemText | Record,
    Field(
        description="A text (text models), a JSON object of fields (record models), or a base64 "
        "image file (image models)."
    ),
]
Vector = Annotated[list[FiniteFloat], Field(min_length=1, max_length=65536)]
Metadata = Annotated[dict[Text, Any] | None, AfterValidator(_metadata)]


def _where(value: dict[str, Any]) -> dict[str, Any]:
    Where.parse(value)  # a FilterError is a ValueError: a 422 naming the operator, field or value
    return value


_WHERE_VALUE: dict[str, Any] = {
    "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
    "description": "A string, a finite number or a boolean (true is not 1).",
}
_WHERE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Where",
    "description": "Only items whose metadata pass this filter (Chroma / MongoDB style). Each key "
    "is a top-level field of the items' metadata, all of which must hold, or $and / $or; a "
    "field's value is a value it must equal, or an object of operators: $eq, $ne (also passes "
    "items without the field), $in, $nin (lists of values), $lt, $lte, $gt, $gte (numbers; the "
    f"field must hold numbers). $and / $or nest at most {MAX_DEPTH} deep. A field no item holds, "
    "or a value of a type the field never holds, is a 422 naming it. Example: "
    '{"shop": {"$in": ["a", "b"]}, "price": {"$lt": 20}}.',
    "properties": {
        "$and": {"type": "array", "minItems": 1, "items": {"type": "object"},
                 "description": "Filters of this form, all of which must hold."},
        "$or": {"type": "array", "minItems": 1, "items": {"type": "object"},
                "description": "Filters of this form, one of which must hold."},
    },
    "additionalProperties": {
        "anyOf": [
            _WHERE_VALUE,
            {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": False,
                "properties": {
                    "$eq": _WHERE_VALUE,
                    "$ne": _WHERE_VALUE,
                    "$in": {"type": "array", "items": _WHERE_VALUE},
                    "$nin": {"type": "array", "items": _WHERE_VALUE},
                    **{op: {"type": "number"} for op in ("$lt", "$lte", "$gt", "$gte")},
                },
            },
        ]
    },
    "example": {"shop": {"$in": ["a", "b"]}, "price": {"$lt": 20}},
}
WhereBody = Annotated[dict[str, Any], AfterValidator(_where), WithJsonSchema(_WHERE_SCHEMA)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _exactly_one(body: BaseModel, names: tuple[str, ...]) -> None:
    given = [name for name in names if getattr(body, name) is not None]
    if len(given) != 1:
        raise ValueError(f"Expected exactly one of {list(names)}. Received: {given or 'none'}")


class SearchRequest(_Body):
    """A batch of queries: raw items, vectors or catalogue ids (exactly one)."""

    items: list[Item] | None = Field(
        None, min_length=1, description="Raw items, encoded by the model's tower."
    )
    vectors: list[Vector] | None = Field(None, min_length=1, description="Query embeddings, (n, dim).")
    ids: list[Id] | None = Field(
        None, min_length=1, description="Catalogue ids; each is left out of its own hits."
    )
    k: StrictInt = Field(10, ge=1, description="Neighbours per query (at most the server's max_k).")
    rerank: StrictInt | None = Field(
        None,
        ge=0,
        description="Re-rank the N nearest by the pairwise head, or by the cross-encoder when the "
        "server loaded one (raw items and ids only); null: the default (the model's, or 50 with a "
        "cross-encoder).",
    )
    radius: FiniteFloat | None = Field(
        None,
        ge=0,
        le=MAX_RADIUS,
        description="Every item within this distance (at most max_k, nearest first) instead of the top k.",
    )
    nprobe: StrictInt | None = Field(None, ge=1, le=65536, description="IVF lists visited per query.")
    ef_search: StrictInt | None = Field(None, ge=1, le=65536, description="HNSW candidate list size.")
    where: WhereBody | None = Field(
        None, description="Only items whose metadata pass this filter; null or {}: every item."
    )

    @model_validator(mode="after")
    def _one_source(self) -> SearchRequest:
        _exactly_one(self, ("items", "vectors", "ids"))
        return self


class Hit(BaseModel):
    """One neighbour, as `simsearch.search.Hit.to_dict()` and the CLI's `query --json`."""

    id: int | str
    distance: float = Field(description="Lower = more similar (1 - cos for cosine, Euclidean for l2).")
    score: float | None = Field(description="The head's P(same) when re-ranked, else null.")
    metadata: dict[str, Any]


class QueryResult(BaseModel):
    """The hits of one query; `query` is its id, text or record, or its position for images and vectors."""

    query: Any
    hits: list[Hit]


class SearchResponse(BaseModel):
    results: list[QueryResult]


class CompareRequest(_Body):
    """Two raw items to compare."""

    a: Item
    b: Item


class CompareResponse(BaseModel):
    """Distance, head probability and the decision at the model's calibrated threshold."""

    distance: float
    probability: float
    same: bool
    threshold: dict[str, Any]
    decided_by: str


class IdentifyRequest(_Body):
    """Photos to identify, and at most one way to set the distance threshold (default: the
    index's, chosen at enrolment by `enrol --max-far`, else the model's calibrated one)."""

    items: list[Item] = Field(min_length=1, description="Base64-encoded photos.")
    threshold: FiniteFloat | None = Field(None, ge=0, description="Distance threshold.")
    max_far: FiniteFloat | None = Field(
        None,
        ge=0,
        lt=1,
        description="Threshold for this share of strangers accepted per identification against "
        "the index's photos (from held-out impostor pairs).",
    )


class Identity(BaseModel):
    """One photo's answer, as `simsearch.search.identify.Identity.to_dict()` and `identify --json`."""

    identity: str = Field(description='The enrolled person, or "unknown".')
    distance: float = Field(description="Distance to the nearest enrolled photo.")
    accepted: bool
    threshold: float
    nearest_id: int | str | None
    nearest_identity: str | None


class IdentifyResponse(BaseModel):
    results: list[Identity]


class AddRequest(_Body):
    """Items to add (POST) or upsert (PUT): raw items or their vectors (exactly one), under `ids`."""

    ids: list[Id] = Field(min_length=1)
    items: list[Item] | None = Field(None, min_length=1)
    vectors: list[Vector] | None = Field(None, min_length=1)
    metadata: list[Metadata] | None = Field(
        None, description="One JSON object (or null) per item; on upsert, omitted keeps the stored metadata."
    )

    @model_validator(mode="after")
    def _one_source(self) -> AddRequest:
        _exactly_one(self, ("items", "vectors"))
        n = len(self.items if self.items is not None else self.vectors or [])
        if n != len(self.ids) or (self.metadata is not None and len(self.metadata) != n):
            raise ValueError(
                f"Expected one id (and one metadata entry, if any) per item. Received: {n} items, "
                f"{len(self.ids)} ids, {'no' if self.metadata is None else len(self.metadata)} metadata"
            )
        return self


class DeleteRequest(_Body):
    ids: list[Id] = Field(min_length=1)


class WriteResponse(BaseModel):
    """An acknowledged write: it is on disk (journal synced) when this is returned."""

    op: str
    items: int = Field(description="Items written by this request.")
    count: int = Field(description="Items in the index after it.")


class StoredItem(BaseModel):
    id: int | str
    metadata: dict[str, Any]
    vector: list[float] | None = None


class ItemsResponse(BaseModel):
    items: list[StoredItem]


class StatsResponse(BaseModel):
    count: int
    kind: str
    factory: str
    dim: int
    metric: str
    tombstones: int
    model: dict[str, Any] = Field(
        description="The model's kind, dim, metric, sha256, path, versions and threshold; {} for an index "
        "built from your own vectors (no model: search and write by vectors and ids)."
    )
    search_params: dict[str, int] = Field(
        description="The nprobe / ef_search of a search that names none (as --target-recall chose them)."
    )
    tuning: dict[str, Any] | None = Field(
        default=None,
        description="How `build-index --target-recall` chose the index: recall@k, memory, kinds tried.",
    )
    rerank_default: int
    reranker: str | None = Field(
        default=None, description="The cross-encoder re-ranker's encoder, when `serve --reranker` loaded one."
    )
    journal: dict[str, Any] | None
    writes: str
    batching: bool
    limits: dict[str, int]


# ---- errors ----------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """An error: what was expected and what was received."""

    detail: str = Field(description='"Expected .... Received: ..."')


class FieldError(BaseModel):
    """One field of a request that does not match the schema."""

    loc: list[str]
    msg: str
    type: str


class ValidationErrorBody(ErrorBody):
    """A request that does not match the schema (422): the summary, and one entry per field."""

    errors: list[FieldError] = Field(description="At most 50, in the request's order.")


def error_responses(texts: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error status codes (code -> what it means), each with the
    body it is sent with: `ValidationErrorBody` for 422, else `ErrorBody`."""
    return {
        code: {"model": ValidationErrorBody if code == 422 else ErrorBody, "description": text}
        for code, text in texts.items()
    }


# ---- review ----------------------------------------------------------------------------------


class LabelRequest(_Body):
    """A label of a candidate pair the review offered (`GET /review/next`)."""

    left_id: Id
    right_id: Id
    label: Literal["same", "different", "unsure"]


class MemberRequest(_Body):
    """A member of a duplicate group marked as not in it (`belongs: false`), or back in it."""

    group: StrictInt
    id: Id
    belongs: StrictBool = False


class RetrainRequest(_Body):
    epochs: StrictInt | None = Field(None, ge=1, le=1000, description="Training epochs (default: train's).")
