from __future__ import annotations

import sys

from portal.mock_idp.cli import main

sys.exit(main())
