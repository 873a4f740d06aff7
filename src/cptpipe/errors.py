"""Errors a user can fix; the CLI turns these into a short message and exit code 2."""


class UserError(Exception):
    """An error caused by inputs or params, not by a bug; printed without a traceback."""


class ParamsError(UserError):
    """params.yaml is invalid; carries every problem found, each naming its key."""

    def __init__(self, problems: list[str], path: str = "params.yaml"):
        self.problems = problems
        self.path = path
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: {len(problems)} problem(s):\n{lines}")
