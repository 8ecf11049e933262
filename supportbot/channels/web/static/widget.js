/*!
 * supportbot chat widget - embeddable on any site with one tag:
 *   <script src="https://support.example/widget.js" data-rasa-url="https://bot.example"></script>
 * It loads widget.css and socket.io.min.js from the origin it was loaded from and talks to
 * Rasa's socket.io channel (events user_uttered / bot_uttered, session persistence).
 * Apache-2.0. No dependencies besides the socket.io client. Docs: docs/web-widget.md
 *
 * Safety rules this file keeps: message text is only ever put into the page with
 * textContent / createTextNode (never innerHTML), links are built element by element with
 * http(s) URLs only, and card numbers are masked before anything is shown or stored locally
 * (the server masks them again before Rasa sees the text).
 */
(function () {
  "use strict";

  if (window.SupportbotWidget) {
    return; // loaded twice on one page
  }

  // ---------------------------------------------------------------- configuration
  var script =
    document.currentScript ||
    (function () {
      var all = document.querySelectorAll("script[src]");
      for (var i = all.length - 1; i >= 0; i--) {
        if (/\/widget\.js(\?|#|$)/.test(all[i].src)) return all[i];
      }
      return null;
    })();
  var data = (script && script.dataset) || {};
  var assetBase = script ? new URL(".", script.src).href : new URL(".", location.href).href;

  function parseRasaUrl(raw) {
    try {
      var u = new URL(raw || new URL(assetBase).origin, location.href);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("scheme");
      return u;
    } catch (e) {
      return new URL(assetBase);
    }
  }

  var rasa = parseRasaUrl(data.rasaUrl);
  var rasaPrefix = rasa.pathname.replace(/\/+$/, "");
  var config = {
    rasaOrigin: rasa.origin,
    socketPath: data.socketPath || rasaPrefix + "/socket.io/",
    transports: (data.transports || "websocket,polling").split(",").map(function (t) {
      return t.trim();
    }).filter(Boolean),
    title: data.title || "Support",
    subtitle: data.subtitle || "We usually answer in seconds",
    greeting:
      data.greeting !== undefined
        ? data.greeting
        : "Hi! I'm the support assistant. I can help with charges, refunds, orders, licence keys and subscriptions. How can I help?",
    initialPayload: data.initialPayload || "",
    storageKey: (data.storageKey || "supportbot-widget") + ":" + rasa.origin + rasaPrefix,
    historyHours: Number(data.historyHours || 24),
    maxStored: 200,
    openOnLoad: data.open === "true",
    userMessageEvent: data.userMessageEvent || "user_uttered",
    botMessageEvent: data.botMessageEvent || "bot_uttered",
    typingTimeoutMs: 30000
  };

  // ---------------------------------------------------------------- card-number masking
  // The rule of supportbot/privacy.py, character for character: digits (ASCII or fullwidth)
  // joined by at most 5 separators (every Unicode space, . - / \ _, Unicode dashes, middle
  // dots, fullwidth punctuation) form a run of groups; the whole run, or else the longest
  // stretch of whole groups from the left, with 13-19 digits that passes Luhn becomes
  // "**** **** **** 1234". A stretch of several groups with a 9-digit group (an order
  // reference) is not a card number.
  var DIGIT = "0-9\uff10-\uff19";
  var SEPARATOR = " \\t\\n\\r\\f\\v\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.\\-/\\\\_\u2010-\u2015\u2212\u00b7\u30fb\uff0d\uff0e\uff0f";
  var CARD_RUN = new RegExp(
    "(?<![" + DIGIT + "])[" + DIGIT + "](?:[" + SEPARATOR + "]{0,5}[" + DIGIT + "])*(?![" + DIGIT + "])", "g");
  var DIGIT_GROUP = new RegExp("[" + DIGIT + "]+", "g");
  var ORDER_REFERENCE_DIGITS = 9;

  function asciiDigits(text) {
    return text.replace(/[\uff10-\uff19]/g, function (ch) {
      return String.fromCharCode(ch.charCodeAt(0) - 0xff10 + 48);
    });
  }

  function luhnValid(digits) {
    var total = 0;
    var parity = digits.length % 2;
    for (var i = 0; i < digits.length; i++) {
      var d = digits.charCodeAt(i) - 48;
      if (i % 2 === parity) {
        d *= 2;
        if (d > 9) d -= 9;
      }
      total += d;
    }
    return digits.length > 0 && total % 10 === 0;
  }

  function cardStretches(groups) {
    var found = [];
    var i = 0;
    while (i < groups.length) {
      var best = null;
      var digits = "";
      var hasReference = false;
      for (var j = i; j < groups.length; j++) {
        if (digits.length + groups[j].digits.length > 19) break;
        digits += groups[j].digits;
        hasReference = hasReference || groups[j].digits.length === ORDER_REFERENCE_DIGITS;
        if (digits.length < 13 || (hasReference && j > i)) continue;
        if (luhnValid(digits)) best = { start: groups[i].start, end: groups[j].end, last4: digits.slice(-4) };
      }
      if (!best) {
        i += 1;
        continue;
      }
      found.push(best);
      while (i < groups.length && groups[i].start < best.end) i += 1;
    }
    return found;
  }

  function maskCardNumbers(text) {
    return String(text).replace(CARD_RUN, function (run) {
      var groups = [];
      run.replace(DIGIT_GROUP, function (g, offset) {
        groups.push({ start: offset, end: offset + g.length, digits: asciiDigits(g) });
        return g;
      });
      var stretches = cardStretches(groups);
      if (!stretches.length) return run;
      var out = "";
      var last = 0;
      stretches.forEach(function (s) {
        out += run.slice(last, s.start) + "**** **** **** " + s.last4;
        last = s.end;
      });
      return out + run.slice(last);
    });
  }

  // ---------------------------------------------------------------- storage
  var memoryStore = {};
  function storageGet(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (e) {
      return memoryStore[key] || null; // storage blocked (privacy settings): keep in memory
    }
  }
  function storageSet(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch (e) {
      memoryStore[key] = value;
    }
  }
  function storageRemove(key) {
    try {
      window.localStorage.removeItem(key);
    } catch (e) {
      /* ignore */
    }
    delete memoryStore[key];
  }

  function freshState() {
    return { v: 1, sessionId: null, sessionToken: null, open: false, updatedAt: Date.now(), messages: [] };
  }

  function loadState() {
    try {
      var raw = storageGet(config.storageKey);
      var s = raw ? JSON.parse(raw) : null;
      if (!s || s.v !== 1 || !Array.isArray(s.messages)) return freshState();
      if (Date.now() - (s.updatedAt || 0) > config.historyHours * 3600 * 1000) return freshState();
      return s;
    } catch (e) {
      return freshState();
    }
  }

  var state = loadState();

  function saveState() {
    state.updatedAt = Date.now();
    if (state.messages.length > config.maxStored) {
      state.messages = state.messages.slice(-config.maxStored);
    }
    storageSet(config.storageKey, JSON.stringify(state));
  }

  // ---------------------------------------------------------------- DOM helpers
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === "text") node.textContent = attrs[k];
        else if (k === "className") node.className = attrs[k];
        else if (attrs[k] === true) node.setAttribute(k, "");
        else if (attrs[k] !== false && attrs[k] != null) node.setAttribute(k, String(attrs[k]));
      });
    }
    (children || []).forEach(function (c) {
      if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function safeHttpUrl(raw) {
    try {
      var u = new URL(raw, location.href);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  // bot images: http(s), or an inline raster image (data:image/png;base64,...), never SVG
  function safeImageUrl(raw) {
    if (typeof raw !== "string") return null;
    if (/^data:image\/(png|gif|jpeg|webp);base64,[A-Za-z0-9+\/=\s]+$/i.test(raw)) return raw;
    return safeHttpUrl(raw);
  }

  var URL_PATTERN = /\b(?:https?:\/\/|www\.)[^\s<>"'`]+/gi;
  var TRAILING = /[.,;:!?'")\]}>]+$/;

  function count(text, ch) {
    return text.split(ch).length - 1;
  }

  // "see https://x.example/a." -> "https://x.example/a"; keeps ")" that closes a "(" in the URL
  function trimUrl(candidate) {
    var m = candidate.match(TRAILING);
    if (!m) return candidate;
    var kept = candidate.slice(0, candidate.length - m[0].length);
    var trail = m[0];
    while (trail.charAt(0) === ")" && count(kept, "(") > count(kept, ")")) {
      kept += ")";
      trail = trail.slice(1);
    }
    return kept;
  }

  // Appends `text` to `parent` as text nodes, with http(s) URLs turned into links.
  function appendLinkified(parent, text) {
    var last = 0;
    text.replace(URL_PATTERN, function (match, offset) {
      var candidate = trimUrl(match);
      var href = candidate && safeHttpUrl(/^www\./i.test(candidate) ? "https://" + candidate : candidate);
      if (!href) return match;
      if (offset > last) parent.appendChild(document.createTextNode(text.slice(last, offset)));
      parent.appendChild(
        el("a", { href: href, target: "_blank", rel: "noopener noreferrer nofollow", text: candidate })
      );
      last = offset + candidate.length;
      return match;
    });
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  // ---------------------------------------------------------------- UI
  var host = el("div", { id: "supportbot-widget" });
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  var uid = "sbw-" + Math.random().toString(36).slice(2, 8);

  var stylesheet = el("link", { rel: "stylesheet", href: assetBase + "widget.css" });
  var container = el("div", { className: "sbw", hidden: true });

  var launcherBadge = el("span", { className: "sbw-badge", hidden: true, "aria-hidden": "true" });
  var launcher = el(
    "button",
    {
      type: "button",
      className: "sbw-launcher",
      "aria-haspopup": "dialog",
      "aria-expanded": "false",
      "aria-controls": uid + "-panel",
      "aria-label": "Support chat"
    },
    [el("span", { className: "sbw-launcher-icon", "aria-hidden": "true" }), el("span", { className: "sbw-launcher-text", text: "Chat with us" }), launcherBadge]
  );

  var title = el("h2", { className: "sbw-title", id: uid + "-title", text: config.title });
  var statusLine = el("p", { className: "sbw-status", role: "status", "aria-live": "polite", text: config.subtitle });
  var closeButton = el("button", { type: "button", className: "sbw-close", "aria-label": "Close chat" }, [
    el("span", { "aria-hidden": "true", text: "\u00d7" })
  ]);
  var log = el("div", {
    className: "sbw-messages",
    role: "log",
    "aria-live": "polite",
    "aria-relevant": "additions",
    "aria-label": "Conversation",
    tabindex: "0"
  });
  var typing = el("div", { className: "sbw-typing", role: "status", hidden: true }, [
    el("span", { className: "sbw-dots", "aria-hidden": "true" }, [el("span"), el("span"), el("span")]),
    el("span", { className: "sbw-sr", text: "The assistant is typing" })
  ]);
  var input = el("textarea", {
    id: uid + "-input",
    className: "sbw-input",
    rows: "1",
    maxlength: "2000",
    placeholder: "Type your message\u2026",
    autocomplete: "off",
    enterkeyhint: "send"
  });
  var sendButton = el("button", { type: "submit", className: "sbw-send", "aria-label": "Send message" }, [
    el("span", { className: "sbw-send-icon", "aria-hidden": "true" })
  ]);
  var form = el("form", { className: "sbw-form", novalidate: true }, [
    el("label", { className: "sbw-sr", for: uid + "-input", text: "Your message" }),
    input,
    sendButton
  ]);
  var panel = el(
    "section",
    {
      id: uid + "-panel",
      className: "sbw-panel",
      role: "dialog",
      "aria-modal": "false",
      "aria-labelledby": uid + "-title",
      hidden: true
    },
    [
      el("header", { className: "sbw-header" }, [el("div", { className: "sbw-heading" }, [title, statusLine]), closeButton]),
      log,
      typing,
      form,
      el("p", { className: "sbw-footnote", text: "Never share a full card number or a password in this chat." })
    ]
  );
  container.appendChild(panel);
  container.appendChild(launcher);
  root.appendChild(stylesheet);
  root.appendChild(container);

  function reveal() {
    container.hidden = false;
    scrollToEnd(); // a restored conversation had no layout before the styles arrived
  }
  stylesheet.addEventListener("load", reveal);
  stylesheet.addEventListener("error", reveal);
  setTimeout(reveal, 3000);

  // ---------------------------------------------------------------- rendering
  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function removeQuickReplies() {
    var groups = log.querySelectorAll(".sbw-quick-replies");
    for (var i = 0; i < groups.length; i++) groups[i].parentNode.removeChild(groups[i]);
  }

  function renderQuickReplies(list) {
    var group = el("div", { className: "sbw-quick-replies", role: "group", "aria-label": "Suggested replies" });
    list.forEach(function (qr) {
      if (qr.url) {
        var href = safeHttpUrl(qr.url);
        if (!href) return;
        group.appendChild(
          el("a", { className: "sbw-quick-reply sbw-link-button", href: href, target: "_blank", rel: "noopener noreferrer nofollow", text: qr.title })
        );
        return;
      }
      var button = el("button", { type: "button", className: "sbw-quick-reply", text: qr.title });
      button.addEventListener("click", function () {
        sendUserMessage(qr.title, qr.payload);
        input.focus();
      });
      group.appendChild(button);
    });
    return group;
  }

  function renderMessage(m, withQuickReplies) {
    var who = m.from === "user" ? "user" : "bot";
    var item = el("div", { className: "sbw-msg sbw-msg-" + who });
    var bubble = el("div", { className: "sbw-bubble" }, [
      el("span", { className: "sbw-sr", text: who === "user" ? "You: " : "Assistant: " })
    ]);
    if (m.text) {
      var textNode = el("span", { className: "sbw-text" });
      appendLinkified(textNode, m.text);
      bubble.appendChild(textNode);
    }
    var src = safeImageUrl(m.image);
    if (src) {
      var img = el("img", { className: "sbw-image", src: src, alt: m.alt || "Image sent by the assistant" });
      img.addEventListener("error", function () {
        img.hidden = true;
      });
      img.addEventListener("load", function () {
        if (item === log.lastElementChild) scrollToEnd(); // the picture made the message taller
      });
      var href = safeHttpUrl(src);
      bubble.appendChild(href ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer nofollow" }, [img]) : img);
    }
    item.appendChild(bubble);
    if (withQuickReplies && m.quickReplies && m.quickReplies.length) {
      item.appendChild(renderQuickReplies(m.quickReplies));
    }
    return item;
  }

  function lastUserIndex() {
    for (var i = state.messages.length - 1; i >= 0; i--) {
      if (state.messages[i].from === "user") return i;
    }
    return -1;
  }

  function renderAll() {
    while (log.firstChild) log.removeChild(log.firstChild);
    var afterUser = lastUserIndex();
    state.messages.forEach(function (m, i) {
      log.appendChild(renderMessage(m, i > afterUser));
    });
    scrollToEnd();
  }

  function addMessage(m) {
    if (m.from === "user") removeQuickReplies();
    state.messages.push(m);
    saveState();
    log.appendChild(renderMessage(m, m.from === "bot"));
    scrollToEnd();
    if (m.from === "bot" && panel.hidden) {
      launcherBadge.hidden = false;
      launcher.setAttribute("aria-label", "Support chat, new message");
    }
  }

  // Rasa socket.io payloads -> stored messages
  function botMessagesFrom(payload) {
    var out = [];
    if (payload == null) return out;
    if (typeof payload === "string") return [{ from: "bot", text: payload }];
    if (typeof payload !== "object") return out;
    var custom = payload.custom && typeof payload.custom === "object" ? payload.custom : null;
    var text = typeof payload.text === "string" ? payload.text : custom && typeof custom.text === "string" ? custom.text : "";
    var buttons = payload.quick_replies || payload.buttons || (custom && (custom.quick_replies || custom.buttons)) || [];
    var quickReplies = (Array.isArray(buttons) ? buttons : [])
      .filter(function (b) {
        return b && typeof b.title === "string" && (typeof b.payload === "string" || typeof b.url === "string");
      })
      .map(function (b) {
        return b.url && !b.payload ? { title: b.title, url: b.url } : { title: b.title, payload: b.payload };
      });
    var image = null;
    var att = payload.attachment;
    if (att && att.type === "image" && att.payload) image = safeImageUrl(att.payload.src);
    else if (payload.image) image = safeImageUrl(payload.image);
    else if (custom && custom.image) image = safeImageUrl(custom.image);
    if (att && att.type === "template" && att.payload && att.payload.elements) {
      var elements = Array.isArray(att.payload.elements) ? att.payload.elements : [att.payload.elements];
      elements.forEach(function (e) {
        if (!e) return;
        var lines = [e.title, e.subtitle].filter(function (x) {
          return typeof x === "string" && x;
        });
        var picture = safeImageUrl(e.image_url);
        if (lines.length || picture) out.push({ from: "bot", text: lines.join("\n"), image: picture, quickReplies: [] });
      });
    }
    if (text || image || quickReplies.length) {
      out.unshift({ from: "bot", text: text, image: image, quickReplies: quickReplies });
    }
    return out;
  }

  // ---------------------------------------------------------------- typing indicator
  var typingTimer = null;
  function showTyping() {
    typing.hidden = false;
    scrollToEnd();
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, config.typingTimeoutMs);
  }
  function hideTyping() {
    typing.hidden = true;
    clearTimeout(typingTimer);
  }

  // ---------------------------------------------------------------- connection
  var socket = null;
  var sessionConfirmed = false;
  var outbox = []; // messages typed while (re)connecting, sent once the session is confirmed
  var everConnected = false;

  function setStatus(text, isProblem) {
    statusLine.textContent = text || config.subtitle;
    statusLine.classList.toggle("sbw-status-problem", !!isProblem);
    container.classList.toggle("sbw-offline", !!isProblem);
  }

  function loadSocketIo(callback) {
    if (window.io && window.io.protocol === 5) return callback(window.io); // socket.io v3/v4
    var previous = window.io;
    var tag = document.createElement("script");
    tag.src = assetBase + "socket.io.min.js";
    tag.async = true;
    tag.onload = function () {
      var ours = window.io;
      if (previous !== undefined) window.io = previous; // leave the host page's own client alone
      if (ours) callback(ours);
      else setStatus("The chat could not start. Please reload the page.", true);
    };
    tag.onerror = function () {
      setStatus("The chat could not start. Please reload the page.", true);
    };
    document.head.appendChild(tag);
  }

  function flushOutbox() {
    while (outbox.length && socket && socket.connected && sessionConfirmed) {
      var text = outbox.shift();
      socket.emit(config.userMessageEvent, { message: text, session_id: state.sessionId });
    }
  }

  function connect() {
    if (socket) return;
    socket = "loading";
    setStatus("Connecting\u2026");
    loadSocketIo(function (io) {
      socket = io(config.rasaOrigin, {
        path: config.socketPath,
        transports: config.transports,
        tryAllTransports: true,
        reconnection: true,
        reconnectionDelay: 1000,
        reconnectionDelayMax: 8000,
        timeout: 15000
      });
      socket.on("connect", function () {
        everConnected = true;
        sessionConfirmed = false;
        setStatus("");
        // joins the conversation's room again after every (re)connection
        // the server gives the stored conversation back only with its token (else a new one)
        socket.emit("session_request", { session_id: state.sessionId, session_token: state.sessionToken });
      });
      socket.on("session_confirm", function (confirmed) {
        var id = confirmed && typeof confirmed === "object" ? confirmed.session_id : confirmed;
        if (typeof id !== "string" || !id) return;
        var token = confirmed && typeof confirmed === "object" ? confirmed.session_token : null;
        var isNew = state.sessionId !== id;
        state.sessionId = id;
        state.sessionToken = typeof token === "string" ? token : null;
        saveState();
        sessionConfirmed = true;
        if (isNew && config.initialPayload && !state.messages.some(function (m) { return m.from === "user"; })) {
          outbox.unshift(config.initialPayload);
        }
        flushOutbox();
      });
      socket.on(config.botMessageEvent, function (payload) {
        hideTyping();
        botMessagesFrom(payload).forEach(addMessage);
      });
      socket.on("disconnect", function (reason) {
        sessionConfirmed = false;
        setStatus("Connection lost. Reconnecting\u2026", true);
        if (reason === "io server disconnect") socket.connect(); // the server closed it: retry anyway
      });
      socket.on("connect_error", function () {
        setStatus(everConnected ? "Connection lost. Reconnecting\u2026" : "Cannot reach the assistant. Retrying\u2026", true);
      });
    });
  }

  // ---------------------------------------------------------------- sending
  function sendUserMessage(shown, payload) {
    var text = payload != null ? payload : shown;
    if (!text || !String(text).trim()) return;
    addMessage({ from: "user", text: maskCardNumbers(shown) });
    outbox.push(String(text));
    showTyping();
    connect();
    flushOutbox();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    autosize();
    sendUserMessage(text);
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (typeof form.requestSubmit === "function") form.requestSubmit();
      else form.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });

  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 120) + "px";
  }
  input.addEventListener("input", autosize);

  // ---------------------------------------------------------------- open / close
  function open(options) {
    if (!panel.hidden) return;
    panel.hidden = false;
    syncModal();
    container.classList.add("sbw-is-open");
    launcher.setAttribute("aria-expanded", "true");
    launcher.setAttribute("aria-label", "Support chat");
    launcherBadge.hidden = true;
    if (!state.messages.length && config.greeting) {
      addMessage({ from: "bot", text: config.greeting, quickReplies: [] });
    }
    state.open = true;
    saveState();
    connect();
    scrollToEnd();
    if (!options || options.focus !== false) input.focus();
  }

  function close() {
    if (panel.hidden) return;
    panel.hidden = true;
    container.classList.remove("sbw-is-open");
    launcher.setAttribute("aria-expanded", "false");
    state.open = false;
    saveState();
    launcher.focus();
  }

  launcher.addEventListener("click", function () {
    if (panel.hidden) open();
    else close();
  });
  closeButton.addEventListener("click", close);
  // Full screen (phones) the dialog is modal: Tab cycles inside it. On wider screens it is a
  // non-modal panel beside the page, and Tab may leave it.
  var phoneQuery = window.matchMedia ? window.matchMedia("(max-width: 480px)") : null;
  function isFullScreen() {
    return !!(phoneQuery && phoneQuery.matches);
  }
  function syncModal() {
    panel.setAttribute("aria-modal", isFullScreen() ? "true" : "false");
  }
  if (phoneQuery && phoneQuery.addEventListener) phoneQuery.addEventListener("change", syncModal);

  function activeElement() {
    return (root !== host && root.activeElement) || document.activeElement;
  }

  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape" || event.key === "Esc") {
      event.stopPropagation();
      close();
      return;
    }
    if (event.key === "Tab" && isFullScreen()) {
      var focusable = Array.prototype.filter.call(
        panel.querySelectorAll("button, textarea, a[href], [tabindex='0']"),
        function (node) {
          return !node.disabled && node.offsetParent !== null;
        }
      );
      if (!focusable.length) return;
      var first = focusable[0];
      var last = focusable[focusable.length - 1];
      var current = activeElement();
      if (event.shiftKey && current === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && current === last) {
        event.preventDefault();
        first.focus();
      }
    }
  });

  function reset() {
    storageRemove(config.storageKey);
    state = freshState();
    outbox = [];
    hideTyping();
    renderAll();
    sessionConfirmed = false;
    if (socket && typeof socket === "object") {
      // a new socket id: the server forgets the old conversation's room for this browser
      socket.disconnect();
      socket.connect();
    }
    if (!panel.hidden && config.greeting) addMessage({ from: "bot", text: config.greeting, quickReplies: [] });
  }

  // ---------------------------------------------------------------- start
  function mount() {
    document.body.appendChild(host);
    renderAll();
    if (state.open || config.openOnLoad) open({ focus: false });
    else if (state.sessionId) connect(); // rejoin the conversation's room right away
  }

  window.SupportbotWidget = {
    open: function () {
      open();
    },
    close: close,
    reset: reset,
    sessionId: function () {
      return state.sessionId;
    },
    isConnected: function () {
      return !!(socket && socket.connected && sessionConfirmed);
    },
    maskCardNumbers: maskCardNumbers
  };

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
