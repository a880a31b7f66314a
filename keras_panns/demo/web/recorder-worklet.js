// Copies the microphone's samples (first channel) to the page, block by block, at the AudioContext's rate.
class RecorderProcessor extends AudioWorkletProcessor {
  process(inputs) {
    const channels = inputs[0];
    if (channels && channels.length > 0) {
      this.port.postMessage(channels[0].slice(0));
    }
    return true;
  }
}
registerProcessor("recorder", RecorderProcessor);
