// DOM helpers. Names and labels come from users and workers, so el puts
// strings in as text nodes, never as HTML.

export const $ = (id) => document.getElementById(id);

// el builds an element; strings among children become text nodes.
export function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props);
  e.append(...children);
  return e;
}
