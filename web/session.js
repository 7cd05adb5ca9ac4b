// Signing in and out as the pages need it: the sign-in page's address for coming back to a page,
// the `next` path it may go to afterwards (same origin only), and leaving a page for it. The
// address helpers use no DOM: Node's test runner imports them.

/** The sign-in page's address that comes back to `path` (a path on this server) afterwards. */
export function signInPath(path = '/') {
  return `/signin?next=${encodeURIComponent(path).replace(/%2F/gi, '/')}`;
}

const SIGN_IN_PAGES = new Set(['/signin', '/signin.html']);

/**
 * Where to go after signing in: `next` when it is a path on `origin` (not `//host`, `/\host` or
 * a full URL elsewhere, not the sign-in page itself), else `/`.
 */
export function safeNext(next, origin) {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) {
    return '/';
  }
  let url;
  try {
    url = new URL(next, origin);
  } catch {
    return '/';
  }
  if (url.origin !== origin || SIGN_IN_PAGES.has(url.pathname)) {
    return '/';
  }
  // The normalised path is what the browser goes to: `/.//evil.example` becomes `//evil.example`.
  const path = `${url.pathname}${url.search}${url.hash}`;
  if (/^[/\\]{2}/.test(path) || new URL(path, origin).origin !== origin) {
    return '/';
  }
  return path;
}

let leaving = false;

/**
 * Sends the reader to the sign-in page, which brings them back here afterwards. Once: whatever
 * asks next (another 401, the socket) changes nothing.
 */
export function goToSignIn() {
  if (leaving) {
    return;
  }
  leaving = true;
  const { pathname, search, hash } = window.location;
  window.location.replace(signInPath(`${pathname}${search}${hash}`));
}

/**
 * Ends the session (`api.signOut()`), then shows the sign-in page. The refusals that follow the
 * ended session (the socket's `authError`, a 401) must not redirect elsewhere meanwhile.
 */
export async function signOut(api) {
  leaving = true;
  try {
    await api.signOut();
  } catch (error) {
    // 401: the session had already ended; signed out all the same.
    if (error.status !== 401) {
      leaving = false;
      throw error;
    }
  }
  window.location.assign('/signin');
}
