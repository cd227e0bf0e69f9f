"""Listening from the explorer: click a point, hear the song from its file.

The explorer figure (``latent.latent_explorer`` with ``audio``) carries, per point, the song's file as a
URL relative to the report's folder and as an absolute path, and its name as plain text (shown with
``textContent``, never parsed as HTML). :func:`player_html` is an HTML block (an
``<audio>`` element, a status line and a script) shown right after the figure; the script finds the
figure (``layout.meta`` = :data:`EXPLORER_META`) once plotly has drawn it, in JupyterLab (plotly's lab
extension) as in the exported ``report.html``, and on ``plotly_click`` plays the song:

- ``report.html`` opened from disk (``file:``): the relative URL, then the absolute ``file://`` one;
- JupyterLab (``http:``): the server's ``files/`` route when the file is under the server's root folder;
- otherwise, or when the browser cannot load the file (moved, another machine, a format it does not
  play), the status line says so, naming the file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

import pandas as pd

EXPLORER_META = "songspace-explorer"


def audio_sources(tracks: pd.DataFrame, report_dir) -> pd.DataFrame:
    """Per track id (str): ``rel`` (URL of the audio file relative to ``report_dir``, percent-encoded; ""
    when none exists) and ``path`` (absolute path, "" for songs without audio: no path, or ``has_audio``
    False because the file is missing or failed to decode)."""
    ids = tracks["track_id"].astype(str).to_numpy()
    paths = tracks["audio_path"] if "audio_path" in tracks else pd.Series([None] * len(ids))
    usable = tracks["has_audio"].fillna(False).astype(bool) if "has_audio" in tracks else pd.Series(True, index=tracks.index)
    rel, absolute = [], []
    for p, ok in zip(paths, usable):
        if not isinstance(p, str) or not p or not ok:
            rel.append("")
            absolute.append("")
            continue
        try:
            rel.append(quote(Path(os.path.relpath(p, report_dir)).as_posix()))
        except ValueError:  # another drive: only the absolute URL works
            rel.append("")
        absolute.append(Path(p).resolve().as_posix())
    return pd.DataFrame({"rel": rel, "path": absolute}, index=pd.Index(ids, name="track_id"))


_SCRIPT = """
(function () {
  var box = document.currentScript.parentElement;
  var audio = box.querySelector("audio"), status = box.querySelector(".ss-status");
  function say(text) { status.textContent = text; }
  function jupyterUrl(path) {
    var el = document.getElementById("jupyter-config-data");
    if (!el) { return null; }
    var cfg = JSON.parse(el.textContent), root = (cfg.serverRoot || "").replace(/\\\\/g, "/");
    if (!root || path.indexOf(root.replace(/\\/$/, "") + "/") !== 0) { return null; }
    var rel = path.slice(root.replace(/\\/$/, "").length + 1);
    return (cfg.baseUrl || "/") + "files/" + rel.split("/").map(encodeURIComponent).join("/");
  }
  function candidates(rel, path) {
    var out = [];
    if (location.protocol === "file:") {
      if (rel) { out.push(rel); }
      out.push("file://" + path.split("/").map(encodeURIComponent).join("/").replace(/^\\/?/, "/"));
    } else {
      var j = jupyterUrl(path);
      if (j) { out.push(j); }
    }
    return out;
  }
  function play(name, rel, path) {
    if (!path) { say(name + ": this song has no audio file."); return; }
    var urls = candidates(rel, path);
    if (!urls.length) {
      say(name + ": cannot reach " + path + " from this page (open report.html on the machine that holds the " +
          "collection, or start JupyterLab in a folder above it).");
      return;
    }
    var i = 0;
    function next() {
      if (i >= urls.length) {
        say(name + ": cannot play " + path + " (the file is missing, moved, or on another machine, or the browser " +
            "cannot read it from here).");
        return;
      }
      audio.onerror = function () { i += 1; next(); };
      audio.src = urls[i];
      say("playing " + name);
      var p = audio.play();
      if (p && p.catch) { p.catch(function () {}); }
    }
    next();
  }
  function attach(gd) {
    gd.on("plotly_click", function (ev) {
      var cd = ev.points[0].customdata;
      play(String(cd[3]), cd[1], cd[2]);  // the plain name: cd[0] is escaped HTML for the hover label
    });
    say("click a point to play its song");
  }
  var tries = 0, timer = setInterval(function () {
    var plots = document.querySelectorAll(".js-plotly-plot");
    for (var k = 0; k < plots.length; k++) {
      var gd = plots[k];
      if (gd.layout && gd.layout.meta === META && gd.on && !gd.__songspacePlayer) {
        gd.__songspacePlayer = true; attach(gd); clearInterval(timer); return;
      }
    }
    if (++tries > 120) { clearInterval(timer); say("the map did not load, so clicking cannot play songs here"); }
  }, 500);
})();
"""


def player_html() -> str:
    """The player block shown under the explorer: an audio element, a status line and the click script."""
    script = _SCRIPT.replace("META", json.dumps(EXPLORER_META))
    return ('<div class="ss-player" style="margin:0.3em 0 1em 0">'
            '<audio controls preload="none" style="width:100%;max-width:40em"></audio>'
            '<div class="ss-status" style="font-size:small;color:#555">the player starts when the map has loaded</div>'
            f"<script>{script}</script></div>")
