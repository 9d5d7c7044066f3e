/*
 * Territory Twin 3D view: the CesiumJS viewer, driven by Dash clientside callbacks
 * (viz/callbacks.py). Offline by construction: no Ion token, no base imagery from the
 * internet, ellipsoid terrain; CesiumJS, the tiles and the land-use drape all come from the
 * dashboard's own server (viz/cesium.py).
 *
 * window.twin3d is the viewer's state and the status the browser test reads:
 *   tilesLoaded      the tileset reported allTilesLoaded (every tile the view needs is in)
 *   featuresStyled   buildings coloured with the current style, over all loaded tiles
 *   floodedStyled    of those, buildings painted as flooded
 *   mode, drapeUrl   the style and the drape in use; error: the last failure, if any
 */
(function () {
  "use strict";

  var state = (window.twin3d = window.twin3d || {
    tilesLoaded: false,
    initialTilesLoaded: false,
    featuresStyled: 0,
    floodedStyled: 0,
    tilesStyled: 0,
    mode: null,
    drapeUrl: null,
    error: null,
    viewer: null,
    starting: false,
    tileset: null,
    style: null,
    version: 0,
    contents: new Map(), // tile content -> {version, n, flooded}
    drapeLayer: null,
    drapeSeq: 0,
    pendingDrape: null,
  });

  function setProps(id, props) {
    // Dash >= 2.16: update a component from outside a callback (async Cesium events).
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(id, props);
    }
  }

  function fail(where, err) {
    state.error = where + ": " + (err && err.message ? err.message : String(err));
    console.error("twin3d", state.error);
    setProps("cesium-status", { children: "3D view failed (" + state.error + ")" });
  }

  function prepareRamp(ramp) {
    return ramp.map(function (stop) {
      return [stop[0], Cesium.Color.fromCssColorString(stop[1])];
    });
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

  function prepareStyle(spec) {
    var style = { mode: spec.mode, spec: spec };
    if (spec.ramp) style.ramp = prepareRamp(spec.ramp);
    if (spec.mode === "flood") style.dry = Cesium.Color.fromCssColorString(spec.dry);
    if (spec.mode === "use") {
      style.colours = {};
      Object.keys(spec.colours).forEach(function (k) {
        style.colours[k] = Cesium.Color.fromCssColorString(spec.colours[k]);
      });
      style.other = Cesium.Color.fromCssColorString(spec.other);
    }
    return style;
  }

  // Returns true when the feature is painted as flooded.
  function paint(feature, style) {
    var spec = style.spec;
    if (style.mode === "flood") {
      var depth = spec.depth[String(feature.getProperty("id"))];
      if (depth > 0) {
        feature.color = rampColor(style.ramp, depth / spec.max);
        return true;
      }
      feature.color = style.dry;
    } else if (style.mode === "use") {
      feature.color = style.colours[feature.getProperty("use")] || style.other;
    } else {
      var h = Number(feature.getProperty("height"));
      var span = spec.max - spec.min;
      feature.color = rampColor(style.ramp, span > 0 ? (h - spec.min) / span : 0);
    }
    return false;
  }

  function recount() {
    var n = 0, flooded = 0, tiles = 0;
    state.contents.forEach(function (v) {
      if (v.version === state.version) {
        n += v.n;
        flooded += v.flooded;
        tiles += 1;
      }
    });
    state.featuresStyled = n;
    state.floodedStyled = flooded;
    state.tilesStyled = tiles;
  }

  // Called for every visible tile on every frame: restyle only when the style changed.
  function styleContent(content) {
    if (!state.style || !content || !content.featuresLength) return;
    var seen = state.contents.get(content);
    if (seen && seen.version === state.version) return;
    var flooded = 0;
    for (var i = 0; i < content.featuresLength; i++) {
      if (paint(content.getFeature(i), state.style)) flooded += 1;
    }
    state.contents.set(content, { version: state.version, n: content.featuresLength,
                                  flooded: flooded });
    recount();
  }

  function statusText() {
    var text = state.featuresStyled.toLocaleString("en") + " buildings in " +
      state.tilesStyled + " tiles";
    if (state.mode === "flood") {
      text += ", " + state.floodedStyled.toLocaleString("en") + " flooded";
    }
    return text;
  }

  function applyDrape(spec) {
    var viewer = state.viewer;
    if (!viewer) {
      state.pendingDrape = spec;
      return;
    }
    var seq = ++state.drapeSeq;
    var r = spec.rectangle;
    Cesium.SingleTileImageryProvider.fromUrl(spec.url, {
      rectangle: Cesium.Rectangle.fromDegrees(r[0], r[1], r[2], r[3]),
    }).then(function (provider) {
      if (seq !== state.drapeSeq || viewer.isDestroyed()) return; // a newer drape won
      var layer = new Cesium.ImageryLayer(provider);
      viewer.imageryLayers.add(layer);
      if (state.drapeLayer) viewer.imageryLayers.remove(state.drapeLayer, true);
      state.drapeLayer = layer;
      state.drapeUrl = spec.url;
      viewer.scene.requestRender();
    }).catch(function (err) { fail("drape", err); });
  }

  function describe(feature) {
    var id = String(feature.getProperty("id"));
    var parts = ["Building " + id, feature.getProperty("use"),
                 Number(feature.getProperty("height")).toFixed(1) + " m",
                 feature.getProperty("storeys") + " storeys"];
    var style = state.style && state.style.spec;
    if (style && style.mode === "flood") {
      var depth = style.depth[id];
      parts.push(depth > 0 ? "flood depth " + depth.toFixed(2) + " m" : "not flooded");
    }
    return parts.join(" \u00b7 ");
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
    });
    var scene = viewer.scene;
    scene.backgroundColor = Cesium.Color.fromCssColorString("#dfe7ec");
    scene.globe.baseColor = Cesium.Color.fromCssColorString("#e8ecef");
    scene.globe.showGroundAtmosphere = false; // it tints the drape blue at an angle
    scene.fog.enabled = false;
    scene.screenSpaceCameraController.minimumZoomDistance = 30;
    viewer.screenSpaceEventHandler.setInputAction(function (click) {
      var picked = scene.pick(click.position);
      setProps("cesium-pick", {
        children: picked instanceof Cesium.Cesium3DTileFeature ? describe(picked) : "",
      });
    }, Cesium.ScreenSpaceEventType.LEFT_CLICK);
    return viewer;
  }

  function loadTileset(viewer, config) {
    Cesium.Cesium3DTileset.fromUrl(config.tileset).then(function (tileset) {
      if (viewer.isDestroyed()) return;
      state.tileset = tileset;
      viewer.scene.primitives.add(tileset);
      tileset.tileVisible.addEventListener(function (tile) { styleContent(tile.content); });
      tileset.tileUnload.addEventListener(function (tile) {
        state.contents.delete(tile.content);
        recount();
      });
      tileset.tileFailed.addEventListener(function (e) { fail("tile " + e.url, e.message); });
      tileset.initialTilesLoaded.addEventListener(function () {
        state.initialTilesLoaded = true;
      });
      tileset.allTilesLoaded.addEventListener(function () {
        state.tilesLoaded = true;
        setProps("cesium-status", { children: statusText() });
      });
      var radius = tileset.boundingSphere.radius;
      // From the south, looking down 38 degrees: the whole territory, with a sense of height.
      return viewer.zoomTo(tileset, new Cesium.HeadingPitchRange(
        0.0, Cesium.Math.toRadians(-38), radius * 1.45));
    }).then(function () {
      viewer.scene.requestRender();
    }).catch(function (err) { fail("tileset", err); });
  }

  function start(config) {
    try {
      state.viewer = createViewer(config);
    } catch (err) {
      fail("viewer", err);
      return;
    }
    loadTileset(state.viewer, config);
    if (state.pendingDrape) {
      applyDrape(state.pendingDrape);
      state.pendingDrape = null;
    }
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    twin3d: {
      // cesium-config -> cesium-status: create the viewer once, load the tiles.
      init: function (config) {
        if (!config || !config.tileset) return config ? config.message : "";
        if (state.viewer || state.starting) return window.dash_clientside.no_update;
        if (typeof Cesium === "undefined") {
          state.error = "CesiumJS did not load from " + config.baseUrl;
          return state.error;
        }
        state.starting = true;
        // The first WebGL frames keep the main thread busy; let the cards and the 2D map,
        // whose callbacks start at the same time, be drawn first.
        var idle = window.requestIdleCallback || function (f) { return setTimeout(f, 200); };
        idle(function () { start(config); }, { timeout: 1500 });
        return "Loading the 3D tiles\u2026";
      },
      // building-style -> cesium-ack.children: recolour every loaded building.
      style: function (spec) {
        if (!spec || typeof Cesium === "undefined") return "";
        state.style = prepareStyle(spec);
        state.mode = spec.mode;
        state.version += 1;
        if (state.viewer) {
          // Visible tiles are restyled on the next frame (tileVisible); refresh the status
          // once that frame is drawn.
          var scene = state.viewer.scene;
          var done = scene.postRender.addEventListener(function () {
            done();
            if (state.tilesLoaded) setProps("cesium-status", { children: statusText() });
          });
          scene.requestRender();
        }
        return spec.mode;
      },
      // drape -> cesium-ack.title: show the land use (and flood) of the chosen year.
      drape: function (spec) {
        if (!spec || typeof Cesium === "undefined") return "";
        applyDrape(spec);
        return spec.url;
      },
    },
  });
})();
