/*
 * Territory Twin 2D maps: zoom and pan several plotly maps together (the compare tab), in the
 * browser. A clientside callback listens to the maps' relayoutData; the map the user moved
 * gives its axis ranges (as plotly settled them, after an autorange too) to the others, which
 * are relaid out only if they differ, so the echo of that relayout stops at once.
 */
(function () {
  "use strict";

  function plot(id) {
    var el = document.getElementById(id);
    return el ? el.querySelector(".js-plotly-plot") : null;
  }

  function ranges(gd) {
    var l = gd && gd.layout;
    if (!l || !l.xaxis || !l.yaxis || !l.xaxis.range || !l.yaxis.range) return null;
    return { x: l.xaxis.range.slice(), y: l.yaxis.range.slice() };
  }

  function same(a, b) {
    var close = function (u, v) { return Math.abs(u - v) <= 1e-9 * Math.max(1, Math.abs(u)); };
    return close(a.x[0], b.x[0]) && close(a.x[1], b.x[1]) &&
      close(a.y[0], b.y[0]) && close(a.y[1], b.y[1]);
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    twinmaps: {
      // relayoutData of the synced maps -> compare-sync.data (the ranges they share).
      sync: function () {
        var ctx = window.dash_clientside.callback_context;
        var ids = ctx.inputs_list.map(function (i) { return i.id; });
        var source = ctx.triggered_id || (ctx.triggered[0] && ctx.triggered[0].prop_id
                                                                  .split(".")[0]);
        var from = ranges(plot(source));
        if (!from || !window.Plotly) return window.dash_clientside.no_update;
        ids.forEach(function (id) {
          if (id === source) return;
          var gd = plot(id);
          var to = ranges(gd);
          if (!gd || (to && same(from, to))) return;
          window.Plotly.relayout(gd, {
            "xaxis.range": from.x, "yaxis.range": from.y,
            "xaxis.autorange": false, "yaxis.autorange": false,
          });
        });
        return { source: source, x: from.x, y: from.y };
      },
    },
  });
})();
