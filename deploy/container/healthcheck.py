#!/usr/bin/env python3
"""Container healthcheck: GET /api/ready on this container's web port; exit 0 only on 200."""

import os
import sys
import urllib.error
import urllib.request

# the web role binds BIND (default: every interface); the probe then asks loopback
WILDCARDS = {"", "::", "0.0.0.0"}  # noqa: S104 - names the wildcard addresses, binds nothing
host = os.environ.get("BIND", "")
host = "127.0.0.1" if host in WILDCARDS else host
url = f"http://{host}:{os.environ.get('PORT', '8000')}/api/ready"
try:
    with urllib.request.urlopen(url, timeout=4) as resp:
        sys.exit(0 if resp.status == 200 else 1)
except (urllib.error.URLError, OSError) as exc:
    print(f"not ready: {exc}", file=sys.stderr)
    sys.exit(1)
