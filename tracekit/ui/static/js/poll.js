// Live updates by polling the JSON API: simple, and it works through any proxy.

export const POLL_MS = 2000;

/**
 * Call `tick` every `ms` while the page is visible (and once when it shows
 * again); never two ticks at a time. Returns a function that stops it.
 */
export function poll(tick, ms = POLL_MS) {
  let stopped = false;
  let running = false;
  let timer = null;
  const live = document.getElementById("live-status");
  async function run() {
    if (stopped || running || document.hidden) return;
    running = true;
    try {
      await tick();
    } finally {
      running = false;
    }
  }
  const onVisible = () => run();
  document.addEventListener("visibilitychange", onVisible);
  timer = window.setInterval(run, ms);
  if (live) live.textContent = "live";
  return () => {
    stopped = true;
    window.clearInterval(timer);
    document.removeEventListener("visibilitychange", onVisible);
    if (live) live.textContent = "";
  };
}
