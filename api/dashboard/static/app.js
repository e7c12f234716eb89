// Tickwork dashboard: the one script of its own (no third-party code). Without it every form
// still works; with it the CSV upload shows how much has been sent.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload-form");
  if (!form) return;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const box = document.getElementById(form.dataset.progress);
    const bar = document.getElementById("upload-bar");
    const pct = document.getElementById("upload-pct");
    const error = document.getElementById("upload-error");
    const data = new FormData(form);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", data.get("csrf"));
    box.hidden = false;
    error.hidden = true;
    form.querySelector("button[type=submit]").disabled = true;
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      const value = Math.round((e.loaded / e.total) * 100);
      bar.value = value;
      bar.textContent = pct.textContent = value + " %";
    });
    xhr.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* an HTML error page */ }
      if (xhr.status === 202 && body.url) {
        window.location.assign(body.url);
        return;
      }
      const message = (body.error && (body.error.message || body.error.title)) ||
        ("The upload failed (HTTP " + xhr.status + "). Check the file and try again.");
      error.textContent = message;
      error.hidden = false;
      form.querySelector("button[type=submit]").disabled = false;
    });
    xhr.addEventListener("error", () => {
      error.textContent = "The connection failed before the file was sent. Try again.";
      error.hidden = false;
      form.querySelector("button[type=submit]").disabled = false;
    });
    xhr.send(data);
  });
});
