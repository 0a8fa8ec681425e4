// Shared by review.html and review_groups.html (inlined where /*REVIEW_COMMON*/ stands).
function escape(value) {
  const span = document.createElement("span");
  span.textContent = String(value);
  return span.innerHTML.replace(/"/g, "&quot;");  // safe inside attributes too
}

async function call(method, path, body) {
  const response = await fetch(path, {
    method, headers: { "content-type": "application/json" }, body: body && JSON.stringify(body),
  });
  if (!response.ok) {
    const text = await response.text();
    let detail = text;
    try { detail = JSON.parse(text).detail || text; } catch (_) { /* not JSON */ }
    throw new Error(`${path}: ${response.status} ${detail}`);
  }
  return response.json();
}
