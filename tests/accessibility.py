"""WCAG 2 A and AA checks of the page open in a browser, by axe-core (vendored in
tests/fixtures/axe; never served by the product)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.browser import Browser

AXE = Path(__file__).resolve().parent / "fixtures" / "axe" / "axe-4.14.1.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def check_accessibility(b: Browser) -> None:
    """Fails naming each rule the page breaks and where."""
    b.evaluate(AXE.read_text())
    found = b.evaluate(f"""axe.run(document, {{runOnly: {{type: 'tag', values: {TAGS}}}}})
        .then(r => r.violations.map(v => v.id + ': ' + v.help + ' (' +
            v.nodes.slice(0, 3).map(n => n.target.join(' ')).join('; ') + ')'))""")
    assert found == [], "\n".join(found)
