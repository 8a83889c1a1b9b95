"""Build the demo's SQLite files from the SQL shipped in examples/demo/.

Usage: python examples/build_demo.py [OUT_DIR]   (default: out/demo)

Each ``examples/demo/NAME.sql`` becomes ``OUT_DIR/NAME.db``; existing files are replaced,
so the demo always starts from the same catalog.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "demo"


def build(out_dir: Path) -> list[Path]:
    """Create one SQLite file per shipped SQL script; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    built = []
    for script in sorted(HERE.glob("*.sql")):
        target = out_dir / f"{script.stem}.db"
        target.unlink(missing_ok=True)
        with sqlite3.connect(target) as conn:
            conn.executescript(script.read_text(encoding="utf-8"))
        conn.close()
        built.append(target)
    return built


if __name__ == "__main__":
    for path in build(Path(sys.argv[1] if len(sys.argv) > 1 else "out/demo")):
        print(f"built {path}")
