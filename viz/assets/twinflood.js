/*
 * Territory Twin flood animation (viz/tabs/flood.py): the play button and the clock move the
 * time slider in the browser. A frame is shown only once the previous one is drawn - the
 * readout (2D) says its band and, when the 3D view is running, its drape is that frame's -
 * so a slow server or a software-WebGL browser skips nothing and never queues requests. The
 * 3D buildings' flood colours follow as their tiles are restyled; the clock does not wait
 * for every tile (in software WebGL that alone takes seconds a frame).
 */
(function () {
  "use strict";

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

  // The next frame's drape starts loading while this one is shown (twin3d.prefetch).
  function prefetch(band, next) {
    var s = window.twin3d;
    var shown = "/time/" + band + ".png";
    if (!s || !s.prefetch || (s.drapeUrl || "").indexOf(shown) < 0) return;
    next.forEach(function (b) { s.prefetch(s.drapeUrl.replace(shown, "/time/" + b + ".png")); });
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    twinflood: {
      // play clicks, clock ticks, run and tab changes -> [time slider, clock off, label]
      play: function (clicks, ticks, run, tab, band, last, stopped) {
        var nu = window.dash_clientside.no_update;
        var ctx = window.dash_clientside.callback_context;
        var what = (ctx.triggered[0] && ctx.triggered[0].prop_id) || "";
        if (what.indexOf("flood-run") === 0 || what.indexOf("tab.") === 0) {
          return [nu, true, word("play", "\u25b6 Play")];
        }
        if (what.indexOf("flood-play") === 0) {
          if (!stopped) return [nu, true, word("play", "\u25b6 Play")];
          // Play from the start when the last frame is shown.
          return [band >= last ? 0 : nu, false, word("pause", "\u275a\u275a Pause")];
        }
        if (stopped || !drawn(band)) return [nu, nu, nu];
        if (band >= last) return [nu, true, word("play", "\u25b6 Play")];
        prefetch(band, [band + 1]);
        return [band + 1, nu, nu];
      },
    },
  });
})();
