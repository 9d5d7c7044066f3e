/*
 * Territory Twin 3D view: one CesiumJS viewer, driven by Dash clientside callbacks
 * (viz/callbacks.py). Offline by construction: no Ion token, no base imagery from the
 * internet, ellipsoid globe; CesiumJS, the tiles and every drape image come from the
 * dashboard's own server (viz/cesium.py).
 *
 * The server describes what to show as a JSON "scene" (viz/scene.py) and this file makes the
 * viewer match it:
 *   sides      one side, or two (left | right of a swipe bar) for comparing scenarios; each
 *              with a drape image, a style for the base buildings (colour mode, hidden ids)
 *              and overlay tilesets (a run's new buildings) with their own style
 *   entities   sightlines, view cones, envelope cells, viewpoints (heights and views)
 *   camera     where to look (applied once per camera key)
 * The layer toggles (buildings, terrain, points) are separate: twin3d.layers(values).
 *
 * Drapes sit on the terrain tileset when it is shown (the globe is then hidden, as it would
 * cut through the terrain at 0 m) and on the globe otherwise, so the land use and the flood
 * always lie on the surface the buildings stand on.
 *
 * window.twin3d is the viewer's state and the status the browser test reads:
 *   layers          {name: {show, loaded, tiles}} of the base parts (buildings, terrain, points)
 *   tilesLoaded     every tileset shown reported allTilesLoaded since the last change
 *   featuresStyled  base buildings coloured with the current style (left side), over loaded tiles
 *   floodedStyled, violatorsStyled, blockersStyled, hiddenStyled   of those, painted as such
 *   newShown        overlay (new) buildings shown
 *   drapeHost       "terrain" or "globe"; drapeUrl, drapeUrls: the drape(s) in use
 *   split           two sides shown; entities: counts of drawn lines, points, polygons, cells
 *   mode, camera, error
 *   frames          frames drawn so far (the view draws only while something is arriving)
 *   settling        frames are still being drawn after a change
 *   sceneWaiting    a scene is queued until the 3D panel shows (hidden page or panel)
 *   picked, tab     the clicked building's id (null: none); the tab last seen (a switch
 *                   clears the pick)
 *   software        WebGL runs on the CPU (then no multisampling)
 */
(function () {
  "use strict";

  var S = (window.twin3d = window.twin3d || {
    viewer: null,
    starting: false,
    config: null,
    layers: {},
    want: { buildings: true, terrain: true, points: false },
    instances: {}, // key -> managed tileset
    scene: null,
    pendingScene: null,
    drapeLayers: [], // [{host, layer}]
    entityHandles: null,
    cellPrimitive: null,
    cameraKey: null,
    tilesLoaded: false,
    featuresStyled: 0,
    floodedStyled: 0,
    violatorsStyled: 0,
    blockersStyled: 0,
    hiddenStyled: 0,
    newShown: 0,
    tilesStyled: 0,
    drapeHost: null,
    drapeUrl: null,
    drapeUrls: [],
    split: false,
    entities: { lines: 0, points: 0, polygons: 0, cells: 0 },
    flying: false,
    software: null,
    frames: 0,
    settling: false,
    mode: null,
    camera: null,
    error: null,
    version: 0,
  });

  function setProps(id, props) {
    // Dash >= 2.16: update a component from outside a callback (async Cesium events).
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(id, props);
    }
  }

  // The status lines' words come from the server in the page's language (cesium-config's
  // "words", viz/cesium.py STATUS_WORDS): word("count", {buildings: 3}) fills "{buildings}".
  function word(key, values) {
    var words = (S.config && S.config.words) || {};
    var text = words[key] !== undefined ? words[key] : key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(values[name]));
    });
    return text;
  }

  // A number in the page's format; with ``digits``, that many decimals (30.7 m).
  function number(n, digits) {
    var options = digits === undefined ? undefined
      : { minimumFractionDigits: digits, maximumFractionDigits: digits };
    return Number(n).toLocaleString((S.config && S.config.locale) || "en", options);
  }

  function fail(where, err) {
    S.error = where + ": " + (err && err.message ? err.message : String(err));
    console.error("twin3d", S.error);
    setProps("cesium-status", { children: word("failed", { error: S.error }) });
  }

  function colour(css, alpha) {
    var c = Cesium.Color.fromCssColorString(css);
    return alpha === undefined ? c : c.withAlpha(alpha);
  }

  // Same piecewise-linear interpolation as viz.figures.ramp_colours, so legend and view agree.
  function rampColor(ramp, t) {
    t = Math.min(1, Math.max(0, t));
    for (var i = 1; i < ramp.length; i++) {
      if (t <= ramp[i][0]) {
        var span = ramp[i][0] - ramp[i - 1][0];
        var u = span > 0 ? (t - ramp[i - 1][0]) / span : 0;
        return Cesium.Color.lerp(ramp[i - 1][1], ramp[i][1], u, new Cesium.Color());
      }
    }
    return ramp[ramp.length - 1][1];
  }

  // -- styles -------------------------------------------------------------------------------
  function prepareStyle(spec) {
    var style = { mode: spec.mode, spec: spec, hide: new Set(spec.hide || []) };
    if (spec.ramp) {
      style.ramp = spec.ramp.map(function (s) { return [s[0], colour(s[1])]; });
    }
    ["dry", "plain", "ok", "blocker", "other"].forEach(function (k) {
      if (spec[k]) style[k] = colour(spec[k]);
    });
    if (spec.colours) {
      style.colours = {};
      Object.keys(spec.colours).forEach(function (k) {
        style.colours[k] = colour(spec.colours[k]);
      });
    }
    return style;
  }

  // Paint one feature; returns what it was painted as (for the counts).
  function paint(feature, style) {
    var spec = style.spec;
    var id = String(feature.getProperty("id"));
    if (style.hide.has(id)) {
      feature.show = false;
      return "hidden";
    }
    if (style.mode === "new") {
      var use = spec.visible[id];
      feature.show = use !== undefined;
      if (feature.show) feature.color = style.colours[use] || style.other;
      return feature.show ? "new" : "hidden";
    }
    feature.show = true;
    if (style.mode === "flood") {
      var depth = spec.depth[id];
      if (depth > 0) {
        feature.color = rampColor(style.ramp, depth / spec.max);
        return "flooded";
      }
      feature.color = style.dry;
    } else if (style.mode === "heights") {
      if (spec.blockers[id] !== undefined) {
        feature.color = style.blocker;
        return "blocker";
      }
      var v = spec.violators[id];
      if (v) {
        feature.color = rampColor(style.ramp, v[0] / spec.max);
        return "violator";
      }
      feature.color = style.ok;
    } else if (style.mode === "use") {
      feature.color = style.colours[feature.getProperty("use")] || style.other;
    } else if (style.mode === "plain") {
      feature.color = style.plain;
    } else {
      var h = Number(feature.getProperty("height"));
      var span = spec.max - spec.min;
      feature.color = rampColor(style.ramp, span > 0 ? (h - spec.min) / span : 0);
    }
    return "plain";
  }

  function recount() {
    var main = S.instances[S.config ? S.config.parts.buildings + "|main" : ""];
    var n = 0, flooded = 0, violators = 0, blockers = 0, hidden = 0, tiles = 0, shown = 0;
    if (main) {
      main.contents.forEach(function (v) {
        if (v.version !== main.version) return;
        n += v.n;
        tiles += 1;
        flooded += v.counts.flooded || 0;
        violators += v.counts.violator || 0;
        blockers += v.counts.blocker || 0;
        hidden += v.counts.hidden || 0;
      });
    }
    Object.keys(S.instances).forEach(function (key) {
      var inst = S.instances[key];
      if (!inst.overlay || !inst.tileset || !inst.tileset.show || inst.side === "right") return;
      inst.contents.forEach(function (v) {
        if (v.version === inst.version) shown += v.counts["new"] || 0;
      });
    });
    S.featuresStyled = n;
    S.tilesStyled = tiles;
    S.floodedStyled = flooded;
    S.violatorsStyled = violators;
    S.blockersStyled = blockers;
    S.hiddenStyled = hidden;
    S.newShown = shown;
  }

  function styleContent(inst, content) {
    if (!inst.style || !content || !content.featuresLength) return;
    var seen = inst.contents.get(content);
    if (seen && seen.version === inst.version) return;
    var counts = {};
    for (var i = 0; i < content.featuresLength; i++) {
      var what = paint(content.getFeature(i), inst.style);
      counts[what] = (counts[what] || 0) + 1;
    }
    inst.contents.set(content, { version: inst.version, n: content.featuresLength,
                                 counts: counts });
    recount();
  }

  // -- tilesets -----------------------------------------------------------------------------
  var SPLIT = { main: "NONE", left: "LEFT", right: "RIGHT" };

  function instance(url, side, options) {
    var key = url + "|" + side;
    var inst = S.instances[key];
    if (inst) return inst;
    inst = S.instances[key] = {
      key: key, url: url, side: side, tileset: null, loaded: false, style: null,
      version: 0, contents: new Map(), show: false, overlay: !!(options && options.overlay),
      part: options && options.part, drapes: [],
    };
    inst.promise = Cesium.Cesium3DTileset.fromUrl(url, options && options.tileset || {})
      .then(function (tileset) {
        var viewer = S.viewer;
        if (!viewer || viewer.isDestroyed()) return null;
        inst.tileset = tileset;
        tileset.show = inst.show;
        tileset.splitDirection = Cesium.SplitDirection[SPLIT[side === "main" && S.split ?
                                                             "left" : side]];
        viewer.scene.primitives.add(tileset);
        tileset.tileVisible.addEventListener(function (tile) {
          styleContent(inst, tile.content);
          if (inst.part === "terrain" && !drapeReady(tile.content)) imageryPending = true;
        });
        tileset.tileUnload.addEventListener(function (tile) {
          inst.contents.delete(tile.content);
          recount();
        });
        tileset.tileFailed.addEventListener(function (e) { fail("tile " + e.url, e.message); });
        if (options && options.style) tileset.style = new Cesium.Cesium3DTileStyle(options.style);
        applyDrapes();
        settle();
        return tileset;
      })
      .catch(function (err) { fail("tileset " + url, err); });
    return inst;
  }

  function setShow(inst, show) {
    inst.show = show;
    if (inst.tileset) {
      if (inst.tileset.show !== show) inst.loaded = false;
      inst.tileset.show = show;
    }
  }

  function setStyle(inst, spec) {
    var next = JSON.stringify(spec || null);
    if (inst.styleJson === next) return;
    inst.styleJson = next;
    inst.style = spec ? prepareStyle(spec) : null;
    // Visible tiles are repainted on the next frame (tileVisible checks the version).
    inst.version += 1;
    inst.contents.clear();
  }

  function updateLoaded() {
    var all = true;
    Object.keys(S.instances).forEach(function (key) {
      var inst = S.instances[key];
      if (inst.show && !(inst.tileset && inst.loaded)) all = false;
    });
    Object.keys(S.layers).forEach(function (name) {
      var inst = S.instances[S.config.parts[name] + "|main"];
      S.layers[name].loaded = !!(inst && inst.tileset && inst.loaded);
      S.layers[name].show = !!(inst && inst.show);
    });
    S.tilesLoaded = all;
    recount();
    if (all) setProps("cesium-status", { children: statusText() });
  }

  function statusText() {
    var text = word("count", { buildings: number(S.featuresStyled),
                               tiles: number(S.tilesStyled) });
    if (S.mode === "flood") text += word("flooded", { n: number(S.floodedStyled) });
    if (S.mode === "heights") {
      // The count of the check's violations.csv (as the panel), not of the tiles loaded.
      var hs = S.scene && S.scene.sides[0].buildings;
      var over = hs && hs.count !== undefined ? hs.count : S.violatorsStyled;
      text += word("heights", { over: number(over), blocking: number(S.blockersStyled) });
    }
    if (S.newShown) text += word("new", { n: number(S.newShown) });
    if (S.hiddenStyled) text += word("replaced", { n: number(S.hiddenStyled) });
    var shown = Object.keys(S.layers).filter(function (k) { return S.layers[k].show; });
    return text + word("layers", { names: shown.map(function (k) { return word(k); })
      .join(word("list")) || word("none") });
  }

  // Render only while something is still arriving. requestRenderMode draws a frame when the
  // camera moves or a tile loads, but imagery draped on 3D Tiles and restyled features need
  // frames of their own. So after a change, frames are requested one after another (with a
  // pause between them, for the page) until every shown tileset is loaded, the drape is made,
  // the draped imagery is ready on the visible terrain tiles, plus SETTLE_FRAMES frames; never
  // longer than SETTLE_MAX_MS. In software WebGL a frame costs 0.1-0.5 s: rendering for a
  // fixed 3-4 s after each change (as before) blocked the page long after the view was done.
  var SETTLE_FRAMES = 1; // a tile's colours and drape are drawn in the frame they are set
  var SETTLE_GAP_MS = 40;
  var SETTLE_MAX_MS = 10000;
  var settleUntil = 0;
  var settleLeft = 0;
  var settleTimer = null;
  var imageryPending = false; // some visible terrain tile's drape is not ready (this frame)

  function settle() {
    S.settling = true;
    settleUntil = Date.now() + SETTLE_MAX_MS;
    settleLeft = SETTLE_FRAMES;
    if (S.viewer && !S.viewer.isDestroyed()) S.viewer.scene.requestRender();
  }

  // Waiting for a drape image or a flight needs no frames: each ends with a settle() of its
  // own (and a flight draws its frames as the camera moves).
  function stillArriving() {
    return !S.tilesLoaded || imageryPending;
  }

  // Called after each frame (postRender).
  function settleAfterFrame() {
    if (!settleUntil) return;
    if (Date.now() > settleUntil) {
      settleUntil = 0;
      S.settling = false;
      return;
    }
    if (stillArriving()) {
      settleLeft = SETTLE_FRAMES;
    } else if (--settleLeft < 0) {
      settleUntil = 0;
      S.settling = false;
      return;
    }
    if (settleTimer) return;
    settleTimer = setTimeout(function () {
      settleTimer = null;
      if (S.viewer && !S.viewer.isDestroyed()) S.viewer.scene.requestRender();
    }, SETTLE_GAP_MS);
  }

  // Whether a tile's model still waits for its draped imagery (CesiumJS 1.145 internals:
  // Model._modelImagery; absent elsewhere, then the drape counts as ready).
  function drapeReady(content) {
    try {
      var imagery = content && content._model && content._model._modelImagery;
      return !imagery || imagery.ready !== false;
    } catch (e) {
      return true;
    }
  }

  // -- drapes -------------------------------------------------------------------------------
  function drapeHostIsTerrain() {
    var inst = S.config && S.config.parts.terrain &&
      S.instances[S.config.parts.terrain + "|main"];
    return !!(inst && inst.show && inst.tileset);
  }

  function clearDrapes() {
    S.drapeLayers.forEach(function (d) {
      if (!d.host.isDestroyed || !d.host.isDestroyed()) d.host.remove(d.layer, true);
    });
    S.drapeLayers = [];
  }

  // (Re)build every drape layer on the current host: called when the scene, the terrain
  // toggle or a terrain tileset changes. Providers are cached by URL.
  var providers = {};

  function provider(spec, onTiles) {
    var key = spec.url + (onTiles ? "#tiles" : "");
    if (!providers[key]) {
      var r = spec.rectangle;
      providers[key] = Cesium.SingleTileImageryProvider.fromUrl(spec.url, {
        rectangle: Cesium.Rectangle.fromDegrees(r[0], r[1], r[2], r[3]),
      }).then(function (p) {
        // Draping on 3D Tiles asks for imagery level maximumLevel - 1 (CesiumJS 1.145,
        // ImageryCoverage._clampImageryLevel), which is -1 for a single tile: nothing would
        // be drawn. Level 0 is the whole image, so say there is one more level.
        if (onTiles) Object.defineProperty(p, "maximumLevel", { value: 1 });
        return p;
      }).catch(function (err) {
        delete providers[key]; // asked again next time
        throw err;
      });
    }
    return providers[key];
  }

  // Start loading a drape the page will soon ask for (the surge playback's next frames), on
  // the shown drape's rectangle: its scene then finds the image loaded.
  S.prefetch = function (url) {
    var side = S.scene && S.scene.sides[0];
    if (!S.viewer || !side || !side.drape || !url) return;
    provider(Object.assign({}, side.drape, { url: url }), drapeHostIsTerrain())
      .catch(function () { return null; });
  };

  // While an animation plays (the surge playback), draw at half resolution: a frame then
  // costs a software-WebGL browser about half as much; full resolution again when it stops.
  S.animating = function (on) {
    if (!S.viewer || S.viewer.isDestroyed()) return;
    var scale = on ? 0.5 : 1.0;
    if (S.viewer.resolutionScale === scale) return;
    S.viewer.resolutionScale = scale;
    S.viewer.scene.requestRender();
  };

  var drapeSeq = 0;

  function applyDrapes() {
    var viewer = S.viewer;
    if (!viewer || !S.scene) return;
    var seq = ++drapeSeq;
    var sides = S.scene.sides;
    var onTerrain = drapeHostIsTerrain();
    var jobs = sides.map(function (side, i) {
      return side.drape ? provider(side.drape, onTerrain).then(function (p) { return [i, p]; })
                        : Promise.resolve([i, null]);
    });
    Promise.all(jobs).then(function (made) {
      if (seq !== drapeSeq || viewer.isDestroyed()) return; // a newer call won
      clearDrapes();
      viewer.scene.globe.show = !onTerrain;
      made.forEach(function (m) {
        var i = m[0], p = m[1];
        if (!p) return;
        var sideName = sides.length > 1 ? (i === 0 ? "left" : "right") : "main";
        if (onTerrain) {
          // The main instance holds the left side of a split.
          var terrain = S.instances[S.config.parts.terrain + "|" +
                                    (sideName === "left" ? "main" : sideName)];
          if (terrain && terrain.tileset) {
            var layer = new Cesium.ImageryLayer(p);
            terrain.tileset.imageryLayers.add(layer);
            S.drapeLayers.push({ host: terrain.tileset.imageryLayers, layer: layer });
          }
        } else {
          var globeLayer = new Cesium.ImageryLayer(p);
          globeLayer.splitDirection = Cesium.SplitDirection[SPLIT[sideName]];
          viewer.imageryLayers.add(globeLayer);
          S.drapeLayers.push({ host: viewer.imageryLayers, layer: globeLayer });
        }
      });
      S.drapeHost = onTerrain ? "terrain" : "globe";
      S.drapeUrls = sides.map(function (s) { return s.drape ? s.drape.url : null; });
      S.drapeUrl = S.drapeUrls[0];
      settle();
    }).catch(function (err) { fail("drape", err); });
  }

  // -- the scene ----------------------------------------------------------------------------
  function sideNames(n) { return n > 1 ? ["left", "right"] : ["main"]; }

  function applyScene(spec) {
    var viewer = S.viewer;
    if (!viewer) {
      S.pendingScene = spec;
      return;
    }
    S.scene = spec;
    S.mode = spec.sides[0].buildings ? spec.sides[0].buildings.mode : null;
    S.split = spec.sides.length > 1;
    var names = sideNames(spec.sides.length);
    var parts = S.config.parts;
    var wanted = {}; // instance key -> true
    // Base parts: the main instance holds the left side when split.
    spec.sides.forEach(function (side, i) {
      var name = names[i];
      var instSide = name === "left" ? "main" : name;
      ["buildings", "terrain"].forEach(function (part) {
        if (!parts[part]) return;
        if (instSide === "main" || S.want[part]) {
          var inst = instance(parts[part], instSide, { part: part });
          if (S.want[part]) wanted[inst.key] = true;
          if (part === "buildings") setStyle(inst, side.buildings);
          if (inst.tileset) {
            inst.tileset.splitDirection = Cesium.SplitDirection[SPLIT[name]];
          }
        }
      });
      (side.overlays || []).forEach(function (o) {
        var inst = instance(o.url, instSide, { overlay: true });
        wanted[inst.key] = S.want.buildings;
        setStyle(inst, o.style);
        if (inst.tileset) inst.tileset.splitDirection = Cesium.SplitDirection[SPLIT[name]];
      });
    });
    if (parts.points && S.want.points) {
      wanted[instance(parts.points, "main", { part: "points", tileset: {},
                                              style: pointStyle() }).key] = true;
    }
    Object.keys(S.instances).forEach(function (key) {
      var inst = S.instances[key];
      var show = !!wanted[key];
      if (inst.part === "points") show = !!(parts.points && S.want.points);
      setShow(inst, show);
      if (inst.tileset) {
        var name = inst.side === "main" && S.split ? "left" : inst.side;
        if (inst.part !== "points") {
          inst.tileset.splitDirection = Cesium.SplitDirection[SPLIT[name]];
        }
      }
    });
    swipe(spec);
    applyDrapes();
    applyEntities(spec.entities);
    applyCamera(spec.camera);
    // Styles are applied as tiles become visible (tileVisible); the status is refreshed
    // after the next frames (see createViewer).
    S.tilesLoaded = false;
    // A new scene (run, year, tab) makes the picked building's panel stale: clear both.
    clearPick(true);
    settle();
  }

  // Scenes are applied once per turn of the event loop, the newest only (a burst of year
  // steps costs one update), and not at all while the 3D panel is not shown
  // (hidden page, or no box on screen): the latest one is applied when it shows again.
  var queuedScene = null;
  var queueTimer = null;
  var watching = false;

  function panelShown() {
    if (document.hidden) return false;
    var box = S.viewer && S.viewer.container;
    return !box || box.getClientRects().length > 0;
  }

  function watchPanel() {
    if (watching || !S.viewer) return;
    watching = true;
    document.addEventListener("visibilitychange", flushScene);
    if (window.ResizeObserver) new ResizeObserver(flushScene).observe(S.viewer.container);
  }

  // (Waiting for an idle page instead, so that maps and cards draw first, cost the surge
  // playback up to a frame's wait each frame and gained nothing measurable on the compare tab.)
  function queueScene(spec) {
    queuedScene = spec;
    if (S.viewer) S.tilesLoaded = false; // not the shown scene's status any more
    if (!queueTimer) queueTimer = setTimeout(flushScene, 0);
  }

  function flushScene() {
    queueTimer = null;
    if (!queuedScene) return;
    if (S.viewer && !panelShown()) {
      S.sceneWaiting = true; // until the 3D panel shows
      watchPanel();
      return;
    }
    S.sceneWaiting = false;
    var spec = queuedScene;
    queuedScene = null;
    applyScene(spec);
  }

  function pointStyle() {
    // ASPRS classes of the survey: ground, building roofs, water.
    return {
      pointSize: 1.5,
      color: {
        conditions: [
          ["${classification} === 6", "color('#ab47bc')"],
          ["${classification} === 9", "color('#4fc3f7')"],
          ["true", "color('#a1887f')"],
        ],
      },
    };
  }

  // -- swipe bar for two sides --------------------------------------------------------------
  function swipe(spec) {
    var viewer = S.viewer;
    var bar = document.getElementById("twin3d-swipe");
    var labels = document.getElementById("twin3d-swipe-labels");
    if (spec.sides.length < 2) {
      if (bar) bar.style.display = "none";
      if (labels) labels.style.display = "none";
      viewer.scene.splitPosition = 0.5;
      return;
    }
    if (!bar) {
      bar = document.createElement("div");
      bar.id = "twin3d-swipe";
      bar.className = "swipe-bar";
      bar.innerHTML = '<div class="swipe-handle">\u2194</div>';
      bar.firstChild.title = word("swipe");
      labels = document.createElement("div");
      labels.id = "twin3d-swipe-labels";
      labels.innerHTML = '<span class="swipe-label swipe-left"></span>' +
        '<span class="swipe-label swipe-right"></span>';
      viewer.container.appendChild(labels);
      viewer.container.appendChild(bar);
      var dragging = false;
      var move = function (e) {
        if (!dragging) return;
        var rect = viewer.container.getBoundingClientRect();
        var f = Math.min(0.95, Math.max(0.05, (e.clientX - rect.left) / rect.width));
        viewer.scene.splitPosition = f;
        bar.style.left = 100 * f + "%";
        viewer.scene.requestRender();
      };
      bar.addEventListener("pointerdown", function (e) {
        dragging = true;
        bar.setPointerCapture(e.pointerId);
      });
      bar.addEventListener("pointermove", move);
      bar.addEventListener("pointerup", function () { dragging = false; });
    }
    bar.style.display = "block";
    labels.style.display = "block";
    bar.style.left = 100 * viewer.scene.splitPosition + "%";
    labels.querySelector(".swipe-left").textContent = spec.sides[0].label || "";
    labels.querySelector(".swipe-right").textContent = spec.sides[1].label || "";
  }

  // -- entities: sightlines, cones, envelope cells ------------------------------------------
  function applyEntities(spec) {
    var viewer = S.viewer;
    // The same object again (the scenario tab's year steps): nothing to compare.
    if (spec && S.entitySpec === spec) return;
    S.entitySpec = spec;
    var key = JSON.stringify(spec || null);
    if (S.entityKey === key) return;
    S.entityKey = key;
    (S.entityHandles || []).forEach(function (e) { viewer.entities.remove(e); });
    S.entityHandles = [];
    if (S.cellPrimitive) {
      viewer.scene.primitives.remove(S.cellPrimitive);
      S.cellPrimitive = null;
    }
    S.entities = { lines: 0, points: 0, polygons: 0, cells: 0 };
    if (!spec) return;
    var add = function (e) { S.entityHandles.push(viewer.entities.add(e)); };
    (spec.polygons || []).forEach(function (p) {
      add({
        name: p.name,
        polygon: {
          hierarchy: Cesium.Cartesian3.fromDegreesArrayHeights(p.positions),
          perPositionHeight: true,
          material: colour(p.colour, p.alpha),
          outline: true,
          outlineColor: colour(p.outline || p.colour),
        },
      });
      S.entities.polygons += 1;
    });
    (spec.lines || []).forEach(function (l) {
      add({
        name: l.name,
        polyline: {
          positions: Cesium.Cartesian3.fromDegreesArrayHeights(l.positions),
          width: l.width || 2,
          material: l.dashed ? new Cesium.PolylineDashMaterialProperty({
            color: colour(l.colour) }) : colour(l.colour),
          // Planning lines (one map) lie on the ground and the city: clamped, not floating.
          clampToGround: !!l.clamp,
          classificationType: l.clamp ? Cesium.ClassificationType.BOTH : undefined,
          arcType: l.clamp ? Cesium.ArcType.GEODESIC : Cesium.ArcType.NONE,
        },
      });
      S.entities.lines += 1;
    });
    (spec.points || []).forEach(function (p) {
      add({
        name: p.name,
        position: Cesium.Cartesian3.fromDegrees(p.position[0], p.position[1], p.position[2]),
        point: { pixelSize: p.size || 10, color: colour(p.colour),
                 heightReference: p.clamp ? Cesium.HeightReference.CLAMP_TO_GROUND
                                          : Cesium.HeightReference.NONE,
                 outlineColor: Cesium.Color.WHITE,
                 outlineWidth: p.outline === undefined ? 2 : p.outline,
                 // markers stay on top; façade points (depth_test) hide behind buildings
                 disableDepthTestDistance: p.depth_test ? undefined : Number.POSITIVE_INFINITY },
        label: p.label ? {
          text: p.label, font: "13px system-ui, sans-serif", fillColor: Cesium.Color.WHITE,
          outlineColor: colour("#263238"), outlineWidth: 3,
          style: Cesium.LabelStyle.FILL_AND_OUTLINE, pixelOffset: new Cesium.Cartesian2(0, -18),
          disableDepthTestDistance: Number.POSITIVE_INFINITY,
        } : undefined,
      });
      S.entities.points += 1;
    });
    var cells = spec.cells;
    if (cells && cells.rects.length) {
      var instances = cells.rects.map(function (r, i) {
        return new Cesium.GeometryInstance({
          geometry: new Cesium.RectangleGeometry({
            rectangle: Cesium.Rectangle.fromDegrees(r[0], r[1], r[2], r[3]),
            height: r[4],
            vertexFormat: Cesium.PerInstanceColorAppearance.VERTEX_FORMAT,
          }),
          attributes: {
            color: Cesium.ColorGeometryInstanceAttribute.fromColor(
              colour(cells.colours[i], cells.alpha)),
          },
        });
      });
      S.cellPrimitive = viewer.scene.primitives.add(new Cesium.Primitive({
        geometryInstances: instances,
        appearance: new Cesium.PerInstanceColorAppearance({ translucent: true, flat: true }),
        asynchronous: false,
      }));
      S.entities.cells = instances.length;
    }
    viewer.scene.requestRender();
  }

  // Look at a sphere (centre lon, lat, height; radius) from a heading, pitch and range.
  function homeOffset(tileset) {
    // From the south, looking down 38 degrees: the whole territory, with a sense of height.
    return new Cesium.HeadingPitchRange(0.0, Cesium.Math.toRadians(-38),
                                        tileset.boundingSphere.radius * 1.45);
  }

  // A flight renders its own frames (the camera moves); the view settles once it lands.
  function landed(key) {
    S.flying = false;
    if (key) S.camera = key;
    settle();
  }

  // The tileset the camera starts on and goes home to: the buildings, or the terrain when the
  // data hold no buildings (a terrain-only territory such as Hong Kong's).
  function homeInstance() {
    var parts = S.config && S.config.parts;
    if (!parts) return null;
    if (parts.buildings) return instance(parts.buildings, "main", { part: "buildings" });
    if (parts.terrain) return instance(parts.terrain, "main", { part: "terrain" });
    return null;
  }

  function applyCamera(camera) {
    if (!camera || camera.key === S.cameraKey) return;
    S.cameraKey = camera.key;
    S.flying = true;
    if (camera.home) {
      var main = homeInstance();
      if (!main) {
        landed(null);
        return;
      }
      main.promise.then(function (tileset) {
        if (!tileset) return null;
        return S.viewer.flyTo(tileset, { offset: homeOffset(tileset), duration: 1.0 });
      }).then(function () { landed(camera.key); }, function () { landed(null); });
      settle();
      return;
    }
    var c = camera.center;
    var sphere = new Cesium.BoundingSphere(Cesium.Cartesian3.fromDegrees(c[0], c[1], c[2]),
                                           camera.radius);
    S.viewer.camera.flyToBoundingSphere(sphere, {
      offset: new Cesium.HeadingPitchRange(Cesium.Math.toRadians(camera.heading),
                                           Cesium.Math.toRadians(camera.pitch), camera.range),
      duration: camera.duration === undefined ? 1.2 : camera.duration,
      complete: function () { landed(camera.key); },
      cancel: function () { landed(null); },
    });
    settle();
  }

  // -- picking ------------------------------------------------------------------------------
  var HIGHLIGHT = "#00e5ff";

  function clearPick(tell) {
    if (S.pickedFeature) {
      try { S.pickedFeature.color = S.pickedColour || Cesium.Color.WHITE; } catch (e) { /* unloaded */ }
    }
    var had = !!S.picked;
    S.pickedFeature = null;
    S.picked = null;
    if (tell && had) {
      // the A/B panel (a callback of the store) and the line under the view
      setProps("picked-building", { data: null });
      setProps("cesium-pick", { children: "" });
      if (S.viewer && !S.viewer.isDestroyed()) S.viewer.scene.requestRender();
    }
  }

  function pick(feature) {
    clearPick(false);
    if (!feature) {
      setProps("picked-building", { data: null });
      S.viewer.scene.requestRender();
      return;
    }
    S.pickedFeature = feature;
    S.pickedColour = feature.color ? feature.color.clone() : null;
    feature.color = Cesium.Color.fromCssColorString(HIGHLIGHT);
    S.picked = String(feature.getProperty("id"));
    setProps("picked-building", { data: { id: S.picked, t: Date.now() } });
    S.viewer.scene.requestRender();
  }

  // A building use by its name on the page (cesium-config's words "use:<use>"), else as written.
  function useName(use) {
    var words = (S.config && S.config.words) || {};
    var name = words["use:" + use];
    return name !== undefined ? name : String(use);
  }

  // Longitude and latitude (degrees) of what is drawn at a screen position: the building,
  // terrain or globe surface there, or the ellipsoid when nothing is drawn.
  function lonLatAt(position) {
    var scene = S.viewer.scene;
    var at = null;
    try {
      if (scene.pickPositionSupported) at = scene.pickPosition(position);
    } catch (e) { at = null; }
    if (!at) at = scene.camera.pickEllipsoid(position, scene.globe.ellipsoid);
    if (!at) return null;
    var c = Cesium.Cartographic.fromCartesian(at);
    return c ? [Cesium.Math.toDegrees(c.longitude), Cesium.Math.toDegrees(c.latitude)] : null;
  }

  function describe(feature) {
    var id = String(feature.getProperty("id"));
    var use = feature.getProperty("use");
    var height = feature.getProperty("height");
    var storeys = feature.getProperty("storeys");
    var parts = [word(use === "new building" || use === "redevelopment" ? "pick_new"
                      : "pick_building", { id: id })];
    // a property the tiles do not give is left out
    if (use !== undefined && use !== null && use !== "") parts.push(useName(use));
    if (height !== undefined && height !== null) {
      parts.push(word("metres", { value: number(height, 1) }));
    }
    if (storeys !== undefined && storeys !== null) {
      parts.push(word("storeys", { n: number(storeys) }));
    }
    var main = S.instances[S.config.parts.buildings + "|main"];
    var spec = main && main.style && main.style.spec;
    if (spec && spec.mode === "flood") {
      var depth = spec.depth[id];
      parts.push(depth > 0 ? word("flood_depth", { depth: number(depth, 2) })
                 : word("not_flooded"));
    }
    if (spec && spec.mode === "heights") {
      var v = spec.violators[id];
      if (v) {
        var rule = spec.rules[v[1]];
        parts.push(word("over_limit", { excess: number(v[0], 2) }) +
                   (rule ? word("rule", { rule: rule }) : ""));
      }
      if (spec.blockers[id] !== undefined) {
        parts.push(word("blocks_view", { lower: number(spec.blockers[id], 2) }));
      }
      if (!v && spec.blockers[id] === undefined) parts.push(word("within_limits"));
    }
    return parts.join(" \u00b7 ");
  }

  // -- viewer -------------------------------------------------------------------------------
  // Whether WebGL runs on the CPU (SwiftShader, llvmpipe): frames then cost 0.1-0.5 s.
  function softwareWebGL() {
    if (S.software !== null) return S.software;
    S.software = false;
    try {
      var gl = document.createElement("canvas").getContext("webgl");
      var info = gl && gl.getExtension("WEBGL_debug_renderer_info");
      var name = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : "";
      S.software = /swiftshader|llvmpipe|software/i.test(name);
      var lose = gl && gl.getExtension("WEBGL_lose_context");
      if (lose) lose.loseContext();
    } catch (e) { /* no WebGL: the viewer will say so */ }
    return S.software;
  }

  function createViewer(config) {
    Cesium.Ion.defaultAccessToken = "";
    var viewer = new Cesium.Viewer(config.container, {
      baseLayer: false,
      terrainProvider: new Cesium.EllipsoidTerrainProvider(),
      geocoder: false,
      baseLayerPicker: false,
      animation: false,
      timeline: false,
      homeButton: false,
      sceneModePicker: false,
      navigationHelpButton: false,
      fullscreenButton: false,
      infoBox: false,
      selectionIndicator: false,
      skyBox: false,
      // Draw only when something changed: software WebGL in tests, laptops on battery.
      requestRenderMode: true,
      maximumRenderTimeChange: Infinity,
      // 4x multisampling (the default) multiplies a software renderer's fill cost.
      msaaSamples: softwareWebGL() ? 1 : 4,
    });
    var scene = viewer.scene;
    scene.backgroundColor = Cesium.Color.fromCssColorString("#dfe7ec");
    scene.globe.baseColor = Cesium.Color.fromCssColorString("#e8ecef");
    scene.globe.showGroundAtmosphere = false; // it tints the drape blue at an angle
    scene.skyAtmosphere.show = false; // black above the horizon once the globe is hidden
    scene.fog.enabled = false;
    scene.screenSpaceCameraController.minimumZoomDistance = 30;
    // Whether each shown tileset has every tile it needs: polled after each frame (the
    // allTilesLoaded event is not raised again for a tileset shown again from its cache).
    scene.postRender.addEventListener(function () {
      var changed = false;
      Object.keys(S.instances).forEach(function (key) {
        var inst = S.instances[key];
        if (!inst.tileset) return;
        var loaded = inst.tileset.show && inst.tileset.tilesLoaded;
        if (loaded !== inst.loaded) {
          inst.loaded = loaded;
          changed = true;
        }
      });
      if (changed || !S.tilesLoaded) updateLoaded();
      S.frames += 1;
      settleAfterFrame();
    });
    scene.preUpdate.addEventListener(function () { imageryPending = false; });
    viewer.screenSpaceEventHandler.setInputAction(function (click) {
      var picked = scene.pick(click.position);
      // Only buildings are described: a terrain tile is no building.
      var feature = picked instanceof Cesium.Cesium3DTileFeature && S.config.parts.buildings &&
        picked.getProperty("id") !== undefined ? picked : null;
      setProps("cesium-pick", { children: feature ? describe(feature) : "" });
      pick(feature);
      // What applies there (unit, zone, lines, land use, residents): the scenario tab's
      // point query answers a click in 3D as it answers one on the map.
      var ground = lonLatAt(click.position);
      if (ground) setProps("query-3d", { data: { lonlat: ground, t: Date.now() } });
    }, Cesium.ScreenSpaceEventType.LEFT_CLICK);
    return viewer;
  }

  function start(config) {
    try {
      S.viewer = createViewer(config);
    } catch (err) {
      fail("viewer", err);
      return;
    }
    Object.keys(config.parts).forEach(function (name) {
      S.layers[name] = { show: false, loaded: false };
    });
    var main = homeInstance();
    if (main) {
      // The view starts at home: a scene asking for the home camera needs no flight.
      S.cameraKey = "home";
      setShow(main, S.want[main.part]);
      main.promise.then(function (tileset) {
        if (!tileset) return null;
        return S.viewer.zoomTo(tileset, homeOffset(tileset));
      }).then(function () { landed("home"); });
    }
    applyScene(S.pendingScene || { sides: [{ buildings: null, overlays: [], drape: null }] });
    S.pendingScene = null;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    twin3d: {
      // cesium-config -> cesium-status: create the viewer once.
      init: function (config) {
        if (!config || !config.parts) return config ? config.message : "";
        if (S.viewer || S.starting) return window.dash_clientside.no_update;
        S.config = config;
        if (typeof Cesium === "undefined") {
          S.error = word("no_cesium");
          return S.error;
        }
        S.starting = true;
        (config.layers || []).forEach(function (name) { S.want[name] = true; });
        Object.keys(S.want).forEach(function (name) {
          S.want[name] = (config.layers || []).indexOf(name) >= 0;
        });
        // The first WebGL frames keep the main thread busy; let the cards and the 2D map,
        // whose callbacks start at the same time, be drawn first.
        var idle = window.requestIdleCallback || function (f) { return setTimeout(f, 200); };
        idle(function () { start(config); }, { timeout: 1500 });
        return word("loading");
      },
      // layers checklist -> cesium-ack.data-layers: show or hide the base parts.
      layers: function (values) {
        values = values || [];
        ["buildings", "terrain", "points"].forEach(function (name) {
          S.want[name] = values.indexOf(name) >= 0;
        });
        if (S.viewer && queuedScene) flushScene();
        else if (S.viewer && S.scene) applyScene(S.scene);
        return values.join(",");
      },
      // scene store, tab -> cesium-ack.children: show the scene if it is the shown tab's.
      // A scene's key starts with its tab's key (viz/scene.py): a tab's server callback
      // answered after the user moved to another tab must not replace that tab's scene.
      // A tab switch clears the picked building (line, highlight, A/B panel) at once, as a
      // new scene does: the new tab may show the same scene, or none.
      scene: function (spec, tab) {
        if (tab !== S.tab) {
          if (S.tab !== undefined) clearPick(true);
          S.tab = tab;
        }
        if (!spec || typeof Cesium === "undefined") return window.dash_clientside.no_update;
        if (tab && String(spec.key || "").split(":")[0] !== tab) {
          return window.dash_clientside.no_update;
        }
        queueScene(spec);
        return spec.key || "";
      },
    },
  });
})();
