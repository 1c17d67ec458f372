"""What an import run reports, per file and in total (the body of POST /v1/import)."""

from __future__ import annotations

from pydantic import BaseModel, Field

MAX_LISTED_ERRORS = 100  # per file: a file of a million bad records must not make a million-line reply


class RecordError(BaseModel):
    location: str = Field(description="Where in the input: file, file[3], file:12, zip:member[5] ...")
    message: str


class FileImport(BaseModel):
    name: str = Field(description="The file, folder or zip as given")
    format: str = Field(description="Detected (or forced) format; several joined by commas; 'unknown' if none")
    conversations: int = Field(0, description="Conversations created or extended by this run")
    messages_added: int = 0
    skipped: int = Field(0, description="Conversations already stored in full (re-run): nothing to add")
    errors: list[RecordError] = Field(
        default_factory=list,
        description=f"Records that were skipped, and why: the first {MAX_LISTED_ERRORS}, in order",
    )
    error_count: int = Field(0, description="How many records were skipped in all (errors lists the first ones)")

    def add_error(self, location: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append(RecordError(location=location, message=message))


class ImportResult(BaseModel):
    files: list[FileImport]
    conversations: int
    messages_added: int
    errors: int = Field(description="How many records failed across all files")
