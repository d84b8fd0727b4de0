/**
 * Driving code-server's workbench the way a person does: the command
 * palette, Quick Open, the Problems panel, hovers, webviews. Every wait is
 * for a selector or a condition in the page, never a fixed sleep.
 */
import type { FrameLocator, Locator, Page } from "playwright-core";

export const QUICK_INPUT = ".quick-input-widget";
export const QUICK_INPUT_BOX = `${QUICK_INPUT} .quick-input-box input`;
const QUICK_ROW = `${QUICK_INPUT} .monaco-list-row`;

/** Opens the command palette and runs the command whose title is `title`. */
export async function runCommand(page: Page, title: string): Promise<void> {
  const row = page.locator(QUICK_ROW).filter({ has: page.locator(".label-name", { hasText: exact(title) }) }).first();
  // The palette can close again right after it opened (focus moving to a webview or a tab that
  // was just clicked): open it again rather than wait on an input that is gone.
  for (let attempt = 1; ; attempt++) {
    const input = await openQuickInput(page, "F1");
    try {
      await input.fill(`>${title}`, { timeout: 5000 });
      break;
    } catch (error) {
      if (attempt === 3) {
        throw error;
      }
    }
  }
  await row.waitFor({ state: "visible" });
  await row.click();
}

/** Quick Open (Ctrl+P): opens the workspace file at `relativePath`. */
export async function openFile(page: Page, relativePath: string): Promise<void> {
  const input = await openQuickInput(page, "Control+P");
  await input.fill(relativePath);
  const name = relativePath.split("/").pop() ?? relativePath;
  const dir = relativePath.split("/").slice(0, -1).join("/");
  const row = page.locator(QUICK_ROW).filter({ hasText: name }).filter({ hasText: dir }).first();
  await row.waitFor({ state: "visible" });
  await row.click();
}

/** Go to Line (Ctrl+G): puts 1-based `line` of the active editor on screen. */
export async function goToLine(page: Page, line: number): Promise<void> {
  const input = await openQuickInput(page, "Control+G");
  await input.fill(`:${line}`);
  await page.keyboard.press("Enter");
}

async function openQuickInput(page: Page, key: string): Promise<Locator> {
  const input = page.locator(QUICK_INPUT_BOX);
  // The workbench may still be moving focus around at start-up: retry the
  // key until the quick input is open (bounded by the locator's timeout).
  for (let attempt = 0; attempt < 5; attempt++) {
    await page.keyboard.press(key);
    try {
      await input.waitFor({ state: "visible", timeout: 3000 });
      return input;
    } catch {
      await page.keyboard.press("Escape");
    }
  }
  throw new Error(`the quick input did not open with ${key}`);
}

/** Rows of the open quick pick: label and description as shown. */
export async function quickPickRows(page: Page): Promise<{ label: string; description: string; separator: string }[]> {
  return page.locator(QUICK_ROW).evaluateAll((rows) =>
    rows.map((row) => ({
      label: row.querySelector(".label-name")?.textContent?.trim() ?? "",
      description: row.querySelector(".label-description")?.textContent?.trim() ?? "",
      separator: row.querySelector(".quick-input-list-separator")?.textContent?.trim() ?? "",
    })),
  );
}

export function quickPickRow(page: Page, text: string | RegExp): Locator {
  return page.locator(QUICK_ROW).filter({ hasText: text }).first();
}

/** The flame graph webview's document (a webview is an iframe in an iframe). */
export function webviewFrame(page: Page): FrameLocator {
  return page.frameLocator("iframe.webview.ready").first().frameLocator("#active-frame");
}

/** In the page: the heat of 1-based `line` (its gutter bar's image and its background), in the
 * active editor or another visible one; null while it has none. */
export function hotLineHeat(line: number): { gutter: string; background: string } | null {
  const active = document.querySelector(".editor-group-container.active .monaco-editor");
  const editors = [...(active ? [active] : []), ...Array.from(document.querySelectorAll(".editor-group-container .monaco-editor"))];
  for (const editor of editors) {
    const heat = heatOf(editor, line);
    if (heat) {
      return heat;
    }
  }
  return null;

  function heatOf(editor: Element, line: number): { gutter: string; background: string } | null {
    const number = Array.from(editor.querySelectorAll(".margin-view-overlays .line-numbers")).find((el) => el.textContent?.trim() === String(line));
    if (!number) {
      return null;
    }
    const top = number.getBoundingClientRect().top;
    const sameRow = (el: Element): boolean => {
      const r = el.getBoundingClientRect();
      return r.height > 0 && Math.abs(r.top - top) < 3;
    };
    const gutter = Array.from(editor.querySelectorAll("[class*='ced-']"))
      .filter(sameRow)
      .map((el) => getComputedStyle(el).backgroundImage)
      .find((image) => /heat(\/|%2F)(self|total)-\d+\.svg/i.test(image));
    const background = Array.from(editor.querySelectorAll(".view-overlays [class*='ced-']"))
      .filter(sameRow)
      .map((el) => getComputedStyle(el).backgroundColor)
      .find((color) => color !== "rgba(0, 0, 0, 0)" && color !== "transparent");
    return gutter && background ? { gutter, background } : null;
  }
}

/** Waits until the active editor shows a line containing `text`. */
export async function waitForLine(page: Page, text: string): Promise<void> {
  await page.waitForFunction(
    (wanted) =>
      Array.from(document.querySelectorAll(".editor-group-container.active .monaco-editor .view-line")).some((el) =>
        (el.textContent ?? "").replace(/\u00a0/g, " ").includes(wanted),
      ),
    text,
    { polling: 100, timeout: 30_000 },
  );
}

function exact(text: string): RegExp {
  return new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
}
