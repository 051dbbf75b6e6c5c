"""Uploads and artifacts: size caps, content hashes, sniffing, safe archive handling (public API)."""

from mingyue.core.files.store import (
    ArchiveCaps as ArchiveCaps,
)
from mingyue.core.files.store import (
    ArchiveReport as ArchiveReport,
)
from mingyue.core.files.store import (
    StoredFile as StoredFile,
)
from mingyue.core.files.store import (
    StoredFileRow as StoredFileRow,
)
from mingyue.core.files.store import (
    UnsafeArchive as UnsafeArchive,
)
from mingyue.core.files.store import (
    caps_from_settings as caps_from_settings,
)
from mingyue.core.files.store import (
    check_archive as check_archive,
)
from mingyue.core.files.store import (
    get_file as get_file,
)
from mingyue.core.files.store import (
    path_of as path_of,
)
from mingyue.core.files.store import (
    safe_extract as safe_extract,
)
from mingyue.core.files.store import (
    sanitize_filename as sanitize_filename,
)
from mingyue.core.files.store import (
    sniff as sniff,
)
from mingyue.core.files.store import (
    store as store,
)
