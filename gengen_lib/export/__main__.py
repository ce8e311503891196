"""``python -m gengen_lib.export [OUT_DIR]``: write every explorer's weights (see :mod:`.book`)."""

from .book import main

raise SystemExit(main())
