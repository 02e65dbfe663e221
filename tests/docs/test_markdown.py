"""What counts as a command of a document: the docs runner finds nothing it is not shown."""

from __future__ import annotations

from pathlib import Path

from tests.docs.markdown import steps

DOCUMENT = """\
# Title

```sh
idsync org create "Contoso" --json   # {"id": "<org id>"}
# a comment line
idsync integration add file --org <org id> \\
    --users users.csv
```

1. In a list:

   ```bash
   export A=1
   ```

```console
$ idsync sync run hr
Job status: Active
$ idsync sync status hr   # exits 3
```

```
idsync integration add scim --org ORG --url URL
    [--direction push|source]
```

```
src/idsync/
  cli/   the idsync command
```

```json
{"user": []}
```
"""


def test_the_commands_of_a_document_are_its_shell_lines(tmp_path: Path) -> None:
    path = tmp_path / "doc.md"
    path.write_text(DOCUMENT)
    found = [(step.line, step.flat, step.exit_code) for step in steps(path, "doc.md")]
    assert found == [
        (4, 'idsync org create "Contoso" --json # {"id": "<org id>"}', 0),
        (6, "idsync integration add file --org <org id> --users users.csv", 0),
        (13, "export A=1", 0),
        (17, "idsync sync run hr", 0),
        (19, "idsync sync status hr # exits 3", 3),
        (23, "idsync integration add scim --org ORG --url URL", 0),
    ]
