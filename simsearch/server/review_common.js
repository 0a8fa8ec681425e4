// Shared by review.html and review_groups.html (inlined where /*REVIEW_COMMON*/ stands).
function escape(value) {
  const span = document.createElement("span");
  span.textContent = String(value);
  return span.innerHTML.replace(/"/g, "&quot;");  // safe inside attributes too
}

// A server started with --api-key wants it on every write, in the header the API reads. The page
// asks for it on the first 401, keeps it for this tab (sessionStorage) and sends it from then on.
const KEY_STORE = "simsearch-api-key";

function send(method, path, body) {
  const headers = { "content-type": "application/json" };
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) headers["X-API-Key"] = key;
  return fetch(path, { method, headers, body: body && JSON.stringify(body) });
}

async function call(method, path, body) {
  let response = await send(method, path, body);
  if (response.status === 401) {
    const key = window.prompt("This server needs its API key (X-API-Key) to save labels and retrain:");
    if (key) {
      sessionStorage.setItem(KEY_STORE, key.trim());
      response = await send(method, path, body);
    }
  }
  if (!response.ok) {
    const text = await response.text();
    let detail = text;
    try { detail = JSON.parse(text).detail || text; } catch (_) { /* not JSON */ }
    throw new Error(`${path}: ${response.status} ${detail}`);
  }
  return response.json();
}
