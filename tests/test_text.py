"""Text shown to people: page text cut at word and sentence boundaries."""

from __future__ import annotations

from monitor.text import one_line


def test_quoted_page_text_in_an_alert_is_cut_at_a_boundary_in_japanese_too() -> None:
    text = "お客様のアカウントを保護するため、一時的にロックしました。" * 10
    cut = one_line(text, 60)
    assert cut.endswith("。…") and len(cut) <= 61, cut  # a sentence end, never mid-word
