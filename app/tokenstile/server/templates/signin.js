// The sign-in page's security-key button: the browser's own WebAuthn, usernameless.
// Loaded from this service by path with Subresource Integrity (no inline script). Without
// it (JavaScript off) the section stays hidden and the one-time-code form is the page.
"use strict";

(function () {
  const section = document.getElementById("security-key");
  const form = document.getElementById("key-form");
  const button = document.getElementById("key-button");
  const status = document.getElementById("key-status");
  if (!section || !form || !button || !status) {
    return;
  }
  section.hidden = false;
  // What the page says, in its language: the server puts the words in data-say-* attributes.
  const words = section.dataset;

  function say(message) {
    status.textContent = message;
    if (message) {
      status.focus();
    }
  }

  function toBytes(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(b64 + "===".slice((b64.length + 3) % 4));
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i += 1) {
      bytes[i] = raw.charCodeAt(i);
    }
    return bytes;
  }

  function toText(buffer) {
    const bytes = new Uint8Array(buffer);
    let raw = "";
    for (let i = 0; i < bytes.length; i += 1) {
      raw += String.fromCharCode(bytes[i]);
    }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function requestOptions(json) {
    return {
      challenge: toBytes(json.challenge),
      timeout: json.timeout,
      rpId: json.rpId,
      allowCredentials: [],
      userVerification: "required",
    };
  }

  function answerJson(credential) {
    const r = credential.response;
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: {
        clientDataJSON: toText(r.clientDataJSON),
        authenticatorData: toText(r.authenticatorData),
        signature: toText(r.signature),
        userHandle: r.userHandle ? toText(r.userHandle) : null,
      },
      clientExtensionResults: {},
    };
  }

  function fields() {
    const body = new URLSearchParams();
    for (const input of form.querySelectorAll("input[type=hidden]")) {
      if (input.name !== "handle" && input.name !== "credential") {
        body.append(input.name, input.value);
      }
    }
    return body;
  }

  function put(name, value) {
    let input = form.querySelector("input[name=" + name + "]");
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      form.appendChild(input);
    }
    input.value = value;
  }

  async function signIn() {
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say(words.sayUnsupported);
      return;
    }
    button.disabled = true;
    say(words.sayReady);
    let answer;
    try {
      const reply = await fetch(form.dataset.options, {
        method: "POST",
        body: fields(),
        credentials: "same-origin",
        cache: "no-store",
      });
      const options = await reply.json();
      if (!reply.ok) {
        say(options.error_description || words.sayRefused);
        return;
      }
      say(words.sayTouch);
      const credential = await navigator.credentials.get({
        publicKey: requestOptions(options.publicKey),
      });
      answer = { handle: options.handle, credential: answerJson(credential) };
    } catch (error) {
      if (error && error.name === "NotAllowedError") {
        say(words.sayCancelled);
      } else if (error && error.name === "SecurityError") {
        say(words.sayWrongOrigin);
      } else {
        say(words.sayFailed);
      }
      return;
    } finally {
      button.disabled = false;
    }
    say(words.saySigningIn);
    put("handle", answer.handle);
    put("credential", JSON.stringify(answer.credential));
    form.submit();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    signIn();
  });
})();
