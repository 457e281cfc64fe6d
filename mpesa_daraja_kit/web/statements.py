"""Statement upload and report routes (internal app, authenticated)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mpesa_daraja_kit.errors import ErrorCode, ValidationError
from mpesa_daraja_kit.services.statements import UploadReport
from mpesa_daraja_kit.web.responses import json_ready

if TYPE_CHECKING:
    from mpesa_daraja_kit.web.context import KitContext

__all__ = ["statement_routes", "upload_dto"]


def upload_dto(report: UploadReport) -> dict[str, Any]:
    """Return ``MpesaPaymentUploadResponseDto``: the original plan's statistics and more."""
    dto: dict[str, Any] = json_ready(
        {
            "id": report.id,
            "fileName": report.file_name,
            "fileSha256": report.file_sha256,
            "format": report.file_format,
            "family": report.family,
            "status": report.status,
            "uploadedBy": report.uploaded_by,
            "shortCode": report.short_code,
            "periodFrom": report.period_from,
            "periodTo": report.period_to,
            "totalStatementItems": report.total_statement_items,
            "matchedIpnRecords": report.matched_ipn_records,
            "duplicateStatementRecords": report.duplicate_statement_records,
            "gapsFilled": report.gaps_filled,
            "failedItemCount": report.failed_item_count,
            "failedItems": [{"row": f.row, "reason": f.reason} for f in report.failed_items],
            "breakdown": report.breakdown,
            "startedAt": report.started_at,
            "finishedAt": report.finished_at,
            "durationMs": report.duration_ms,
        }
    )
    return dto


def statement_routes(kit: KitContext) -> list[BaseRoute]:
    """Return ``POST /statements`` and ``GET /statements/{upload_id}``."""
    from mpesa_daraja_kit.web.internal import route_handler

    max_bytes = kit.settings.statement_max_bytes

    async def upload(request: Request, principal: Any) -> Response:
        declared = int(request.headers.get("content-length") or 0)
        if declared > max_bytes + 64 * 1024:
            raise ValidationError(
                f"the upload is {declared} bytes; statements up to {max_bytes} bytes are accepted",
                code=ErrorCode.STATEMENT_TOO_LARGE,
            )
        try:
            form = await request.form(max_files=1, max_fields=10)
        except Exception:
            raise ValidationError(
                "send the statement as multipart/form-data with the file in the field 'file'"
            ) from None
        try:
            file = form.get("file")
            if not isinstance(file, UploadFile):
                raise ValidationError(
                    "no file: send the statement as multipart/form-data in the field 'file'"
                )
            report = await kit.statements.import_file(
                file.file, uploaded_by=str(principal), filename=file.filename
            )
        finally:
            await form.close()
        return JSONResponse(upload_dto(report), status_code=201)

    async def show(request: Request, principal: Any) -> Response:
        report = await kit.statements.get(request.path_params["upload_id"])
        return JSONResponse(upload_dto(report))

    return [
        Route(
            "/statements", route_handler(kit, upload), methods=["POST"], name="statements_upload"
        ),
        Route(
            "/statements/{upload_id}",
            route_handler(kit, show),
            methods=["GET"],
            name="statements_show",
        ),
    ]
