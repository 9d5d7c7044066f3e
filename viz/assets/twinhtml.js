/*
 * Read-only parts of the page drawn with the DOM API instead of Dash's React renderer
 * (viz/fragments.py says why). A fragment is {tag, props, children} JSON made on the server
 * from dash.html components; strings become text nodes (never parsed as HTML), attributes
 * that would run code are dropped, and links must be relative or http(s).
 */
(function () {
  "use strict";

  var REFUSED = { script: 1, iframe: 1, object: 1, embed: 1, style: 1, base: 1, meta: 1,
                  link: 1 };
  var RENAMED = { className: "class", htmlFor: "for" };

  function safeUrl(url) {
    var text = String(url).trim();
    return !/^[a-z][a-z0-9+.-]*:/i.test(text) || /^https?:/i.test(text);
  }

  function setProp(el, name, value) {
    if (value === null || value === undefined || value === false) return;
    if (/^on/i.test(name) || name === "srcdoc") return;
    if (name === "style") {
      Object.keys(value).forEach(function (k) {
        if (k.indexOf("--") === 0) el.style.setProperty(k, value[k]);
        else el.style[k] = value[k];
      });
      return;
    }
    if ((name === "href" || name === "src" || name === "action") && !safeUrl(value)) return;
    el.setAttribute(RENAMED[name] || name, value === true ? "" : String(value));
  }

  function build(spec) {
    if (spec === null || spec === undefined) return null;
    if (typeof spec === "string") return document.createTextNode(spec);
    if (Array.isArray(spec)) {
      var list = document.createDocumentFragment();
      spec.forEach(function (s) {
        var n = build(s);
        if (n) list.appendChild(n);
      });
      return list;
    }
    var tag = String(spec.tag || "");
    if (!/^[a-z][a-z0-9]*$/.test(tag) || REFUSED[tag]) return null;
    var el = document.createElement(tag);
    var props = spec.props || {};
    Object.keys(props).forEach(function (k) { setProp(el, k, props[k]); });
    var kids = build(spec.children);
    if (kids) el.appendChild(kids);
    return el;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    twinhtml: {
      // <box>-html.data -> <box>.data-drawn: draw the fragment into the box.
      draw: function (spec, id, drawn) {
        var box = document.getElementById(id);
        if (!box || spec === undefined) return window.dash_clientside.no_update;
        var content = build(spec);
        box.replaceChildren.apply(box, content ? [content] : []);
        return String((Number(drawn) || 0) + 1);
      },
    },
  });
})();
