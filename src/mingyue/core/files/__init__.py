"""Uploads and artifacts: size caps, content hashes, sniffing, safe archive handling (public API)."""

from mingyue.core.files.store import (
    ArchiveCaps as ArchiveCaps,
    ArchiveReport as ArchiveReport,
    StoredFile as StoredFile,
    StoredFileRow as StoredFileRow,
    UnsafeArchive as UnsafeArchive,
    caps_from_settings as caps_from_settings,
    check_archive as check_archive,
    get_file as get_file,
    path_of as path_of,
    safe_extract as safe_extract,
    sanitize_filename as sanitize_filename,
    sniff as sniff,
    store as store,
)
