"""Demo data placeholder (filled in below)."""


def load_demo() -> list[tuple[str, str, str]]:
    return []
