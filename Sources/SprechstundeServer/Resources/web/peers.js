// The WebRTC mesh: one RTCPeerConnection per remote page. The newcomer offers to everyone
// already in the call (docs/video.md); every later negotiation (ICE restarts, glare after a
// reconnect) follows "perfect negotiation", with the polite side decided from the two peer ids:
// the page with the smaller peer id (plain string comparison) is polite.

export class Peer {
  constructor(id, participant, polite, pc) {
    this.id = id;
    this.participant = participant;
    this.polite = polite;
    this.pc = pc;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingRemoteAnswer = false;
    this.queue = Promise.resolve();
    this.remoteStream = new MediaStream();
    this.transceivers = {}; // kind → the transceiver that carries our track of that kind
    this.disconnectTimer = null;
    this.restarts = 0;
    this.mediaConnected = false;
    this.closed = false;
    this.lastStats = null;
    this.quality = null;
  }
}

export class Mesh {
  /**
   * @param {object} options
   *   selfId(): this page's peer id; send(to, data); localTrack(kind); localStream();
   *   rtcConfig: RTCConfiguration; onTrack(peer, track); onConnectionState(peer);
   */
  constructor(options) {
    this.options = options;
    this.peers = new Map();
  }

  get size() {
    return this.peers.size;
  }

  get(peerId) {
    return this.peers.get(peerId);
  }

  list() {
    return [...this.peers.values()];
  }

  /** The connection to `peerId`, created if needed. */
  ensure(peerId, participant) {
    let peer = this.peers.get(peerId);
    if (peer) {
      if (participant) peer.participant = participant;
      return peer;
    }
    const selfId = this.options.selfId();
    const pc = new RTCPeerConnection(this.options.rtcConfig);
    peer = new Peer(peerId, participant, selfId < peerId, pc);
    this.peers.set(peerId, peer);

    pc.addEventListener('icecandidate', ({ candidate }) => {
      if (candidate) this.options.send(peer.id, { candidate: candidate.toJSON() });
    });
    pc.addEventListener('negotiationneeded', () => this.negotiate(peer));
    pc.addEventListener('track', ({ track }) => {
      if (!peer.remoteStream.getTracks().includes(track)) {
        for (const old of peer.remoteStream.getTracks().filter((t) => t.kind === track.kind)) {
          peer.remoteStream.removeTrack(old);
        }
        peer.remoteStream.addTrack(track);
      }
      this.options.onTrack?.(peer, track);
    });
    pc.addEventListener('connectionstatechange', () => this.connectionChanged(peer));
    pc.addEventListener('iceconnectionstatechange', () => {
      if (pc.iceConnectionState === 'failed') this.restartIce(peer);
    });
    return peer;
  }

  /** We are the newcomer: send our media (or nothing: receive-only) and offer. */
  offer(peer) {
    const stream = this.options.localStream();
    for (const kind of ['audio', 'video']) {
      if (peer.transceivers[kind]) continue;
      const track = this.options.localTrack(kind);
      peer.transceivers[kind] = peer.pc.addTransceiver(track || kind, { direction: 'sendrecv', streams: [stream] });
    }
    // negotiationneeded follows from the new transceivers.
  }

  async negotiate(peer) {
    if (peer.closed) return;
    try {
      peer.makingOffer = true;
      await peer.pc.setLocalDescription();
      this.options.send(peer.id, { description: peer.pc.localDescription.toJSON() });
    } catch (error) {
      console.warn('sprechstunde: offer failed', error);
    } finally {
      peer.makingOffer = false;
    }
  }

  /** A relayed `signal` from `from`: handled in arrival order, one at a time. */
  handleSignal(from, data, participant) {
    const peer = this.ensure(from, participant);
    peer.queue = peer.queue.then(() => this.applySignal(peer, data)).catch((error) => {
      console.warn('sprechstunde: signal failed', error);
    });
    return peer.queue;
  }

  async applySignal(peer, data) {
    if (peer.closed || !data) return;
    const pc = peer.pc;
    if (data.description) {
      const description = data.description;
      const readyForOffer = !peer.makingOffer && (pc.signalingState === 'stable' || peer.settingRemoteAnswer);
      const collision = description.type === 'offer' && !readyForOffer;
      peer.ignoreOffer = !peer.polite && collision;
      if (peer.ignoreOffer) return;
      peer.settingRemoteAnswer = description.type === 'answer';
      try {
        await pc.setRemoteDescription(description); // a polite page rolls back its own offer here
      } finally {
        peer.settingRemoteAnswer = false;
      }
      if (description.type === 'offer') {
        await this.attachLocal(peer);
        await pc.setLocalDescription();
        this.options.send(peer.id, { description: pc.localDescription.toJSON() });
      }
    } else if (data.candidate) {
      try {
        await pc.addIceCandidate(data.candidate);
      } catch (error) {
        if (!peer.ignoreOffer) console.warn('sprechstunde: ICE candidate refused', error);
      }
    }
  }

  /** The answering side: put our tracks onto the transceivers the offer created. */
  async attachLocal(peer) {
    const stream = this.options.localStream();
    for (const transceiver of peer.pc.getTransceivers()) {
      if (transceiver.stopped || transceiver.currentDirection === 'stopped') continue;
      const kind = transceiver.receiver.track.kind;
      if (!peer.transceivers[kind]) peer.transceivers[kind] = transceiver;
      if (peer.transceivers[kind] !== transceiver) continue;
      if (transceiver.direction !== 'sendrecv') transceiver.direction = 'sendrecv';
      const track = this.options.localTrack(kind);
      if (transceiver.sender.track !== track) await transceiver.sender.replaceTrack(track);
      if (typeof transceiver.sender.setStreams === 'function' && stream) {
        try {
          transceiver.sender.setStreams(stream);
        } catch {
          // older browsers: the receiver builds its own stream anyway
        }
      }
    }
  }

  /** Device switch or screen share: the new track on every connection, no renegotiation. */
  async replaceTrack(kind, track) {
    const work = [];
    for (const peer of this.peers.values()) {
      const transceiver = peer.transceivers[kind];
      if (transceiver && !transceiver.stopped && transceiver.sender.track !== track) {
        work.push(transceiver.sender.replaceTrack(track).catch((error) => console.warn('replaceTrack failed', error)));
      }
    }
    await Promise.all(work);
  }

  connectionChanged(peer) {
    const state = peer.pc.connectionState;
    clearTimeout(peer.disconnectTimer);
    if (state === 'failed') {
      this.restartIce(peer);
    } else if (state === 'disconnected') {
      peer.disconnectTimer = setTimeout(() => {
        if (!peer.closed && ['disconnected', 'failed'].includes(peer.pc.connectionState)) this.restartIce(peer);
      }, 4000);
    } else if (state === 'connected') {
      peer.restarts = 0;
    }
    this.options.onConnectionState?.(peer);
  }

  restartIce(peer) {
    if (peer.closed) return;
    peer.restarts += 1;
    if (typeof peer.pc.restartIce === 'function') {
      peer.pc.restartIce(); // negotiationneeded follows
    } else {
      peer.pc
        .setLocalDescription(peer.pc.createOffer({ iceRestart: true }))
        .then(() => this.options.send(peer.id, { description: peer.pc.localDescription.toJSON() }))
        .catch((error) => console.warn('ICE restart failed', error));
    }
  }

  /** After the signaling socket came back: an offer that may have been lost goes out again. */
  resendPending() {
    for (const peer of this.peers.values()) {
      if (peer.pc.signalingState === 'have-local-offer' && peer.pc.localDescription) {
        this.options.send(peer.id, { description: peer.pc.localDescription.toJSON() });
      }
    }
  }

  remove(peerId) {
    const peer = this.peers.get(peerId);
    if (!peer) return null;
    peer.closed = true;
    clearTimeout(peer.disconnectTimer);
    this.peers.delete(peerId);
    try {
      peer.pc.close();
    } catch {
      // already closed
    }
    return peer;
  }

  closeAll() {
    for (const id of [...this.peers.keys()]) this.remove(id);
  }

  /** The numbers the tests and the quality indicator read. */
  async stats(peer) {
    const report = await peer.pc.getStats();
    let framesDecoded = 0;
    let bytesReceived = 0;
    let packetsReceived = 0;
    let packetsLost = 0;
    let audioPackets = 0;
    let pairId = null;
    let remoteRtt = null;
    report.forEach((stat) => {
      if (stat.type === 'transport' && stat.selectedCandidatePairId) pairId = stat.selectedCandidatePairId;
    });
    report.forEach((stat) => {
      if (stat.type === 'inbound-rtp') {
        bytesReceived += stat.bytesReceived || 0;
        packetsReceived += stat.packetsReceived || 0;
        packetsLost += Math.max(0, stat.packetsLost || 0);
        if (stat.kind === 'video') framesDecoded += stat.framesDecoded || 0;
        if (stat.kind === 'audio') audioPackets += stat.packetsReceived || 0;
      } else if (stat.type === 'remote-inbound-rtp' && typeof stat.roundTripTime === 'number') {
        remoteRtt = stat.roundTripTime;
      } else if (stat.type === 'candidate-pair' && !pairId && (stat.selected || (stat.nominated && stat.state === 'succeeded'))) {
        pairId = stat.id;
      }
    });
    const pair = pairId ? report.get(pairId) : null;
    const local = pair ? report.get(pair.localCandidateId) : null;
    const rtt = typeof pair?.currentRoundTripTime === 'number' ? pair.currentRoundTripTime : remoteRtt;
    return {
      peerId: peer.id,
      participant: peer.participant,
      connectionState: peer.pc.connectionState,
      framesDecoded,
      bytesReceived,
      packetsReceived,
      packetsLost,
      audioPackets,
      rtt,
      candidateType: local?.candidateType ?? null,
    };
  }
}
