// Class labels in the page: the palette (with classes the user hid), the legend that toggles them,
// and the pixel work shared by the still and live views. Colouring happens here rather than on the
// server so hiding a class or moving the opacity slider costs no request.

const UNKNOWN = [0, 0, 0];  // a label past the class list (never from a trained model) shows black

// One RGBA pixel as the Uint32 an ImageData buffer holds on a little-endian machine (all of them here).
function pack(color, alpha) {
  return ((alpha << 24) | (color[2] << 16) | (color[1] << 8) | color[0]) >>> 0;
}

export function rgb(color) {
  return `rgb(${color[0]}, ${color[1]}, ${color[2]})`;
}

export class Palette {
  constructor(classes) {
    this.classes = classes;
    this.hidden = new Set();
    this.full = new Uint32Array(256).fill(pack(UNKNOWN, 255));
    for (const cls of classes) this.full[cls.index] = pack(cls.color, 255);
    this.visible = this.full.slice();
  }

  // Hidden classes get alpha 0, so the photo under the overlay shows through them.
  toggle(index) {
    if (this.hidden.has(index)) this.hidden.delete(index); else this.hidden.add(index);
    this.visible[index] = this.hidden.has(index) ? 0 : this.full[index];
    return !this.hidden.has(index);
  }
}

// Class indices from a greyscale label PNG (the grey level is the index), one byte per pixel.
export async function decodeLabels(blob) {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const labels = new Uint8Array(width * height);
  for (let i = 0; i < labels.length; i++) labels[i] = rgba[4 * i];
  return { labels, width, height };
}

// Paints labels in the colours of `lut` (Palette.full or .visible) onto `canvas`, resized to fit them.
export function paintLabels(canvas, result, lut) {
  canvas.width = result.width;
  canvas.height = result.height;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(result.width, result.height);
  const pixels = new Uint32Array(image.data.buffer);
  const labels = result.labels;
  for (let i = 0; i < labels.length; i++) pixels[i] = lut[labels[i]];
  ctx.putImageData(image, 0, 0);
  return canvas;
}

// The photo with the mask blended over it at `alpha`; the mask is scaled without smoothing so
// class borders stay sharp when a working-size result is shown at the video's size.
export function composite(target, photo, mask, alpha) {
  const ctx = target.getContext("2d");
  ctx.clearRect(0, 0, target.width, target.height);
  if (photo) ctx.drawImage(photo, 0, 0, target.width, target.height);
  ctx.globalAlpha = photo ? alpha : 1;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(mask, 0, 0, target.width, target.height);
  ctx.imageSmoothingEnabled = true;
  ctx.globalAlpha = 1;
}

// Percent of pixels per class index.
export function sharesOf(labels, numClasses) {
  const counts = new Float64Array(numClasses);
  for (let i = 0; i < labels.length; i++) if (labels[i] < numClasses) counts[labels[i]]++;
  return Array.from(counts, (n) => (100 * n) / Math.max(labels.length, 1));
}

// The legend: one toggle button per class, with its share of the current result.
export class Legend {
  constructor(list, palette, onToggle) {
    this.list = list;
    list.replaceChildren();
    for (const cls of palette.classes) {
      const item = document.createElement("li");
      item.dataset.index = cls.index;
      item.innerHTML = '<button type="button" aria-pressed="true"><span class="swatch"></span>' +
        '<span class="name"></span><span class="share">–</span><span class="bar"><span></span></span></button>';
      const button = item.querySelector("button");
      button.title = `Hide ${cls.name} in the overlay`;
      item.querySelector(".swatch").style.background = rgb(cls.color);
      item.querySelector(".name").textContent = cls.name;
      item.querySelector(".bar span").style.background = rgb(cls.color);
      button.addEventListener("click", () => {
        const shown = palette.toggle(cls.index);
        button.setAttribute("aria-pressed", String(shown));
        button.title = `${shown ? "Hide" : "Show"} ${cls.name} in the overlay`;
        item.classList.toggle("off", !shown);
        onToggle();
      });
      list.append(item);
    }
  }

  // `shares`: percent per class index, or null to clear the figures.
  fill(shares) {
    for (const item of this.list.children) {
      const share = shares ? shares[Number(item.dataset.index)] ?? 0 : null;
      item.querySelector(".share").textContent = share === null ? "–" : `${share.toFixed(1)}%`;
      item.querySelector(".bar span").style.width = `${share ?? 0}%`;
      item.classList.toggle("absent", share === 0);
    }
  }

  highlight(index) {
    for (const item of this.list.children) item.classList.toggle("hot", Number(item.dataset.index) === index);
  }
}
