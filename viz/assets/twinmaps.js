/*
 * Territory Twin 2D maps, in the browser:
 *
 * - sync: zoom and pan several plotly maps together (the compare tab). A clientside callback
 *   listens to the maps' relayoutData; the map the user moved gives its axis ranges (as plotly
 *   settled them, after an autorange too) to the others, which are relaid out only if they
 *   differ, so the echo of that relayout stops at once.
 * - runOf, frame, marker: the scenario tab's year slider. The server sends a run's land-use
 *   map once with every year's image and title (viz.tabs.scenario.map_frames), and its
 *   timeline once; a year step swaps the image and moves the timeline's year marker here,
 *   without a round trip. The image is swapped as soon as the slider shows the new year
 *   (watchYear), before Dash has run the callbacks of the step: in a busy page that chain
 *   takes a few hundred ms, the swap itself a few.
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

  var NU = function () { return window.dash_clientside.no_update; };

  // Another year of the map already drawn from the same frames: swap its image and title in
  // place (a few ms) instead of redrawing every layer (hundreds of ms in a busy browser).
  // The graph's own data and layout are changed too, so that a later redraw (a resize)
  // draws this year. Anything else (a flood layer coming or going, plotly not drawing the
  // PNG as it is) is drawn anew.
  function swapInPlace(gd, frames, shown) {
    if (!gd || gd._twinFrames !== frames || !gd._fullData || !gd._fullLayout) {
      if (gd) gd._twinFrames = frames;
      return false;
    }
    var i = gd._fullData.findIndex(function (t) { return t.meta === "land use"; });
    var flood = gd._fullData.some(function (t) { return t.meta === "flood-depth"; });
    var images = gd.querySelectorAll(".imagelayer image");
    var title = gd.querySelector(".gtitle");
    if (i < 0 || flood || (shown.traces || []).length || images.length !== 1 || !title ||
        !gd._fullData[i]._realImage) {
      return false;
    }
    images[0].setAttribute("href", shown.source);
    images[0].setAttributeNS("http://www.w3.org/1999/xlink", "xlink:href", shown.source);
    title.textContent = shown.title;
    gd.data[gd._fullData[i].index].source = gd._fullData[i].source = shown.source;
    if (gd.layout.title) gd.layout.title.text = shown.title;
    if (gd._fullLayout.title) gd._fullLayout.title.text = shown.title;
    return true;
  }

  // The frames the map was last drawn from (see watchYear).
  var latest = null;

  // Show the year the slider shows at once, when the map is drawn from this run's frames
  // and the scenario tab is shown; twinmaps.frame does the same a moment later (a no-op
  // then), and everything a swap in place cannot do (a flood layer) is left to it.
  function showSliderYear() {
    var thumb = document.querySelector("#year [role=slider]");
    var panel = document.getElementById("panel-scenario");
    if (!thumb || !latest || !panel || panel.hidden) return;
    var shown = latest.frames.years[String(thumb.getAttribute("aria-valuenow"))];
    if (shown) swapInPlace(plot("land-use-map"), latest.frames, shown);
  }

  var watching = false;

  function watchYear() {
    var box = document.getElementById("year");
    if (watching || !box || !window.MutationObserver) return;
    watching = true;
    new MutationObserver(showSliderYear).observe(box, {
      subtree: true, attributes: true, attributeFilter: ["aria-valuenow"],
    });
  }

  // Move the year lines of a timeline drawn from the same base in place: the lines' paths
  // are shifted and the graph's layout says the new year, so a later redraw (a resize) draws
  // it there. Plotly.relayout would do the same but then dcc.Graph sends the changed layout
  // back as a new figure and plotly draws everything again (100-500 ms in a busy browser).
  function markerInPlace(gd, base, year) {
    if (!gd || gd._twinBase !== base || !gd._fullLayout || !gd.layout) {
      if (gd) gd._twinBase = base;
      return false;
    }
    var full = gd._fullLayout.shapes || [];
    var moves = [];
    for (var i = 0; i < full.length; i++) {
      if (full[i].name !== "year") continue;
      var axis = gd._fullLayout["xaxis" + String(full[i].xref || "x").slice(1)];
      var path = gd.querySelector('.shapelayer path[data-index="' + i + '"]');
      if (!axis || !axis.l2p || !path || !gd.layout.shapes || !gd.layout.shapes[i]) {
        return false;
      }
      moves.push([i, axis, path]);
    }
    if (!moves.length) return false;
    moves.forEach(function (m) {
      var i = m[0], axis = m[1], path = m[2];
      if (path._twinDrawnAt === undefined) path._twinDrawnAt = full[i].x0;
      var dx = axis.l2p(axis.d2l(year)) - axis.l2p(axis.d2l(path._twinDrawnAt));
      path.setAttribute("transform", "translate(" + dx + ",0)");
      [gd.layout.shapes[i], full[i]].forEach(function (shape) {
        shape.x0 = year;
        shape.x1 = year;
      });
    });
    return true;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    twinmaps: {
      // ctx-scenario ({run, year}) -> ctx-scenario-run ({run}): changes only with the run.
      runOf: function (ctx, current) {
        if (!ctx) return NU();
        if (current && current.run === ctx.run) return NU();
        return { run: ctx.run };
      },
      // ctx-scenario, land-use-frames -> land-use-map.figure: the map of the year.
      frame: function (ctx, frames) {
        if (!ctx || !frames || !frames.figure || frames.asked !== ctx.run) return NU();
        var shown = frames.years[String(ctx.year)] || frames.years[frames.last];
        latest = { frames: frames };
        watchYear();
        if (swapInPlace(plot("land-use-map"), frames, shown)) return NU();
        var fig = frames.figure;
        var data = fig.data.filter(function (t) { return t.meta !== "flood-depth"; })
          .map(function (t) {
            return t.meta === "land use" ? Object.assign({}, t, { source: shown.source }) : t;
          }).concat(shown.traces || []);
        var layout = Object.assign({}, fig.layout, {
          title: Object.assign({}, fig.layout.title, { text: shown.title }),
        });
        return { data: data, layout: layout };
      },
      // ctx-scenario, timeline-frames -> timeline.figure: the year marker on the year.
      marker: function (ctx, base) {
        if (!ctx || !base || !base.layout) return NU();
        var year = Number(ctx.year);
        if (isFinite(year) && markerInPlace(plot("timeline"), base, year)) return NU();
        var shapes = (base.layout.shapes || []).map(function (s) {
          return s.name === "year" && isFinite(year) ? Object.assign({}, s, { x0: year, x1: year })
                                                      : s;
        });
        return { data: base.data, layout: Object.assign({}, base.layout, { shapes: shapes }) };
      },
      // ctx-scenario, scene-frames -> [scene.data, building-legend.children]: the 3D scene
      // of the year from the run's scenes (viz.tabs.scenario.scene_frames). The shared
      // parts are the same objects in every year's scene (twin3d.js compares them first).
      scene: function (ctx, frames) {
        if (!ctx || !frames || !frames.years || frames.asked !== ctx.run) return [NU(), NU()];
        var year = frames.years[String(ctx.year)] || frames.years[frames.last];
        var buildings = frames.buildings;
        if (year.hide) buildings = Object.assign({}, buildings, { hide: year.hide });
        return [{
          key: year.key, entities: frames.entities, camera: frames.camera || null,
          sides: [{ label: "", drape: year.drape, buildings: buildings,
                    overlays: year.overlays }],
        }, year.legend];
      },
      // land-use-map.clickData, query-3d.data (a click in 3D), ctx-scenario, the last ask ->
      // map-query-ask.data: the point clicked last, on the map or in 3D (while this tab is
      // shown), asked again for each run and year; nothing before a click.
      queryAsk: function (click, ground, ctx, asked) {
        if (!ctx) return NU();
        var by = (window.dash_clientside.callback_context.triggered || [])
          .map(function (t) { return t.prop_id; });
        var where;
        if (by.indexOf("query-3d.data") >= 0) {
          var panel = document.getElementById("panel-scenario");
          if (!ground || !ground.lonlat || (panel && panel.hidden)) return NU();
          where = { lonlat: ground.lonlat };
        } else if (by.indexOf("land-use-map.clickData") >= 0) {
          if (!click) return NU();
          where = { click: click };
        } else {
          if (!asked) return NU();
          where = asked.lonlat ? { lonlat: asked.lonlat } : { click: asked.click };
        }
        return Object.assign(where, { ctx: ctx });
      },
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
