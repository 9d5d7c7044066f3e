/*
 * Territory Twin flood animation (viz/tabs/flood.py): the play button and the clock move the
 * time slider in the browser, and each frame is shown here from the run's frames, sent once
 * (flood.play_frames): the map's image and title are swapped in place, the readout and the
 * 3D scene (drape and buildings' colours) are set, and the next frames' drapes are loaded
 * ahead. No server callback runs per frame: the server's views follow "flood-band", which
 * passes the slider's time on only while the clock is stopped (when paused, the server draws
 * the frame shown, with its hydrograph). A frame is shown only once the previous one is
 * drawn - the readout says its band and, when the 3D view is running, its drape is that
 * frame's - so a software-WebGL browser skips nothing. The 3D buildings' flood colours follow
 * as their tiles are restyled; the clock does not wait for every tile.
 */
(function () {
  "use strict";

  var AHEAD = 2; // frames whose drapes are loaded ahead
  var playing = false; // the clock runs: the map shows the frames' images
  var shownAt = 0; // when the last frame was shown (performance.now())
  var shownBand = -1; // and which

  // Playing or not: the 3D view draws at half resolution while playing (twin3d.animating).
  function setPlaying(on) {
    playing = on;
    if (window.twin3d && window.twin3d.animating) window.twin3d.animating(on);
  }

  // The button's words in the page's language (viz/tabs/flood.py puts them on the button).
  function word(name, english) {
    var button = document.getElementById("flood-play");
    return (button && button.dataset[name]) || english;
  }

  function drawn(band) {
    var readout = document.getElementById("flood-readout");
    if (!readout || readout.dataset.mode !== "time" || Number(readout.dataset.band) !== band) {
      return false;
    }
    var s = window.twin3d;
    if (!s || !s.viewer || !s.scene) return true; // no 3D view: the map is enough
    return (s.drapeUrl || "").indexOf("/time/" + band + ".png") >= 0;
  }

  function plot() {
    var el = document.getElementById("flood-map");
    return el ? el.querySelector(".js-plotly-plot") : null;
  }

  // The frame's image in place of the map's land use, its title, the flood layer hidden
  // (the image has the flood painted in). The graph's data say the frame's image too, so
  // that the server's next figure (when paused) is seen as a change and drawn whole; the
  // flood layer shows again then.
  function swapMap(frame) {
    var gd = plot();
    if (!gd || !gd._fullData || !gd.data || !frame.image) return;
    var i = gd._fullData.findIndex(function (t) { return t.meta === "land use"; });
    var images = gd.querySelectorAll(".imagelayer image");
    if (i < 0 || images.length !== 1) return;
    images[0].setAttribute("href", frame.image);
    images[0].setAttributeNS("http://www.w3.org/1999/xlink", "xlink:href", frame.image);
    gd.data[gd._fullData[i].index].source = gd._fullData[i].source = frame.image;
    gd.querySelectorAll(".heatmaplayer").forEach(function (g) {
      g.style.visibility = "hidden";
    });
    var title = gd.querySelector(".gtitle");
    if (title) title.textContent = frame.title;
    if (!gd._twinFloodWatch && gd.on) {
      gd._twinFloodWatch = true;
      gd.on("plotly_afterplot", function () {
        if (playing) return;
        gd.querySelectorAll(".heatmaplayer").forEach(function (g) {
          g.style.visibility = "";
        });
      });
    }
  }

  function frameOf(frames, run, band) {
    if (!frames || !frames.frames || Number(frames.run) !== Number(run)) return null;
    return frames.frames[band] || null;
  }

  // The next frames' drapes start loading while this one is shown (twin3d.prefetch).
  function prefetch(frames, band) {
    var s = window.twin3d;
    if (!s || !s.prefetch) return;
    for (var k = 1; k <= AHEAD; k++) {
      var next = frames.frames[band + k];
      var drape = next && next.scene.sides[0].drape;
      if (drape && drape.url) s.prefetch(drape.url);
    }
  }

  // [slider, clock off, label, readout, scene, 3D legend] showing frame ``band``.
  function show(frames, run, band, clock, label) {
    var nu = window.dash_clientside.no_update;
    var frame = frameOf(frames, run, band);
    if (!frame) return [band, clock, label, nu, nu, nu];
    shownAt = performance.now();
    shownBand = band;
    swapMap(frame);
    prefetch(frames, band);
    var scene = Object.assign({}, frame.scene, { entities: frames.entities, camera: null });
    return [band, clock, label, frame.readout, scene, frame.legend];
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    twinflood: {
      // play clicks, clock ticks, run and tab changes, the run's frames ->
      // [time slider, clock off, label, readout, scene, 3D legend]
      play: function (clicks, ticks, run, tab, band, last, stopped, frames) {
        var nu = window.dash_clientside.no_update;
        var ctx = window.dash_clientside.callback_context;
        // A click and a tick may come in one call: the click (or a new run, a tab) wins.
        var ids = ctx.triggered.map(function (t) { return t.prop_id || ""; });
        var had = function (id) { return ids.some(function (p) { return p.indexOf(id) === 0; }); };
        var what = had("flood-run") ? "flood-run" : had("tab.") ? "tab." :
          had("flood-play") ? "flood-play" : ids[0] || "";
        var off = word("play", "\u25b6 Play");
        if (what.indexOf("flood-run") === 0 || what.indexOf("tab.") === 0) {
          setPlaying(false);
          return [nu, true, off, nu, nu, nu];
        }
        if (what.indexOf("flood-play") === 0) {
          setPlaying(!!stopped);
          if (!stopped) return [nu, true, off, nu, nu, nu];
          var on = word("pause", "\u275a\u275a Pause");
          // Play from the start when the last frame is shown.
          if (band >= last) return show(frames, run, 0, false, on);
          prefetch(frames || { frames: [] }, band);
          return [nu, false, on, nu, nu, nu];
        }
        // The clock looks often; a frame stays at least data-frame-ms (flood.FRAME_MS).
        var least = Number(word("frameMs", "330"));
        var readout = document.getElementById("flood-readout");
        if (!stopped && band !== shownBand && readout && Number(readout.dataset.band) !== band) {
          // The slider was moved while playing: show its frame, then play on from it.
          return show(frames, run, band, nu, nu);
        }
        if (stopped || performance.now() - shownAt < least || !drawn(band)) {
          return [nu, nu, nu, nu, nu, nu];
        }
        if (band >= last) {
          setPlaying(false);
          return [nu, true, off, nu, nu, nu];
        }
        return show(frames, run, band + 1, nu, nu);
      },
      // slider time, clock off -> flood-band: the time the server's views show.
      band: function (band, stopped) {
        return stopped ? band : window.dash_clientside.no_update;
      },
      // slider time, level, play clicks, view -> view: the one of the control moved.
      follow: function (band, level, clicks, mode) {
        var ctx = window.dash_clientside.callback_context;
        var moved = {};
        ctx.triggered.forEach(function (t) { moved[t.prop_id.split(".")[0]] = true; });
        var ids = Object.keys(moved).filter(function (id) { return id; });
        var want = null;
        if (ids.length === 1 && ids[0] === "flood-level") want = "level";
        else if (ids.length && ids.every(function (id) {
          return id === "flood-time" || id === "flood-play";
        })) want = "time";
        return want === null || want === mode ? window.dash_clientside.no_update : want;
      },
    },
  });
})();
