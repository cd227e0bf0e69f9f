"""The explorer's player in a real browser (headless Chromium, skipped without it): a click on a point plays
its file from a report opened from disk, and the player says when a file cannot be reached or is absent."""
import html
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from songspace.report import plots

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

CLICKS = """<script>
function fire(i) {
  var gd = document.querySelector('.js-plotly-plot'), pts = [];
  gd.data.forEach(function (d) { d.customdata.forEach(function (c) { pts.push(c); }); });
  gd.emit('plotly_click', {points: [{customdata: pts[i]}]});
}
function note(key) {
  var a = document.querySelector('audio');
  document.body.setAttribute(key, document.querySelector('.ss-status').textContent + ' | ' + a.currentSrc);
}
setTimeout(function () { fire(0); }, 2000);
setTimeout(function () { note('data-r0'); fire(1); }, 4000);
setTimeout(function () { note('data-r1'); fire(2); }, 6000);
setTimeout(function () { note('data-r2'); }, 7000);
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium to run the page in")
def test_click_plays_the_file_or_says_why_not(tmp_path):
    (tmp_path / "music").mkdir()
    song = tmp_path / "music" / "song a.wav"
    sf.write(song, (0.1 * np.sin(np.arange(16000) * 0.1)).astype("float32"), 16000)
    t = pd.DataFrame({"track_id": ["0", "1", "2"], "name": ["A & <b>a</b>", "B – b", "C – c"], "cluster": [0, 1, 1],
                      "audio_path": [str(song), str(tmp_path / "music" / "gone.wav"), None]})
    maps = {"m (umap)": pd.DataFrame({"track_id": ["0", "1", "2"], "x": [0.0, 1.0, 2.0], "y": [0.0, 1.0, 0.0]})}
    results = tmp_path / "results"
    results.mkdir()
    fig = plots.latent_explorer(maps, t.set_index("track_id"), colors=["cluster"],
                                audio=plots.audio_sources(t, results))
    page = results / "report.html"
    page.write_text("<html><body>" + fig.to_html(include_plotlyjs=True, full_html=False) + plots.player_html()
                    + CLICKS + "</body></html>", encoding="utf-8")
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                          "--autoplay-policy=no-user-gesture-required", "--virtual-time-budget=9000", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    got = {k: html.unescape(v) for k, v in re.findall(r'(data-r\d)="([^"]*)"', dom)}
    assert got["data-r0"].startswith("playing A & <b>a</b> | file://")  # the name as the tag has it, not markup and got["data-r0"].endswith("music/song%20a.wav")
    assert got["data-r1"].startswith("B – b: cannot play") and "gone.wav" in got["data-r1"]
    assert got["data-r2"].startswith("C – c: this song has no audio file")
