"""``python -m spanbert_reader.cli`` (also what ``accelerate launch -m spanbert_reader.cli`` runs)."""

import sys

from spanbert_reader.cli import main

sys.exit(main())
