package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/gotrickle/gotrickle/pkg/processor"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// The fixed answers, word for word as PyTrickle gives them.
const (
	msgStarted        = "Stream started successfully"
	msgStopped        = "Stream stopped successfully"
	msgParamsUpdated  = "Parameters updated successfully"
	msgNoStreamStop   = "No active stream to stop"
	msgNoStreamUpdate = "No active stream to update"
	msgBusy           = "Pipeline is still in use"
	msgNotReady       = "Pipeline is still initializing. Please wait for IDLE status."
	prefixStartErr    = "Error starting stream: "
	prefixStopErr     = "Error stopping stream: "
	prefixParamsErr   = "Parameter update failed: "
)

// errBodyTooLarge is a request body over Config.MaxBodyBytes.
type errBodyTooLarge struct{ limit int64 }

func (e *errBodyTooLarge) Error() string {
	return fmt.Sprintf("request body exceeds %d bytes", e.limit)
}

// readBody reads the whole request body within Config.MaxBodyBytes.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := s.cfg.MaxBodyBytes
	if limit < 0 {
		return io.ReadAll(r.Body)
	}
	if r.ContentLength > limit {
		return nil, &errBodyTooLarge{limit: limit}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, &errBodyTooLarge{limit: limit}
	}
	return body, err
}

// bodyErrorCode is 413 for an oversized body, else 400.
func bodyErrorCode(err error) int {
	if _, ok := errors.AsType[*errBodyTooLarge](err); ok {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// ready is PyTrickle's start condition: startup complete and pipeline ready.
func ready(st processor.StatePayload) bool {
	return st.StartupComplete && st.PipelineReady
}

// handleStart serves POST {prefix}/stream/start and /live-video-to-video,
// in PyTrickle's order: readiness (waiting for a load in progress), then
// the body, then the Backend (busy, not ready, failure). Unlike PyTrickle, a
// bad request never touches a running stream.
func (s *Server) handleStart(w http.ResponseWriter, r *http.Request) {
	if !ready(s.b.State()) {
		if rw, ok := s.b.(ReadyWaiter); ok {
			if err := rw.WaitReady(r.Context()); err != nil {
				s.log.Warn("api: waiting for the pipeline before a start", "err", err)
			}
		}
		if st := s.b.State(); !ready(st) {
			s.log.Warn("api: stream start rejected, pipeline not ready")
			s.startError(w, http.StatusServiceUnavailable, msgNotReady)
			return
		}
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.startError(w, bodyErrorCode(err), prefixStartErr+err.Error())
		return
	}
	req, err := DecodeStart(r.Header.Get("Content-Type"), body)
	if err != nil {
		s.log.Info("api: bad stream start request", "err", err)
		s.startError(w, http.StatusBadRequest, prefixStartErr+err.Error())
		return
	}
	if err := s.checkStartURLs(req); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, ErrHostNotAllowed) {
			code = http.StatusForbidden
		}
		s.log.Warn("api: stream start refused", "request_id", req.GatewayRequestID, "err", err)
		s.startError(w, code, prefixStartErr+err.Error())
		return
	}
	s.log.Info("api: starting stream", "request_id", req.GatewayRequestID,
		"subscribe_url", trickle.RedactURL(req.SubscribeURL), "publish_url", trickle.RedactURL(req.PublishURL))
	switch err := s.b.Start(r.Context(), req); {
	case err == nil:
		s.writeJSON(w, http.StatusOK, map[string]any{
			"status":        "success",
			"message":       msgStarted,
			"request_id":    req.GatewayRequestID,
			"current_state": s.b.State(),
		})
	case errors.Is(err, processor.ErrBusy):
		s.startError(w, http.StatusServiceUnavailable, msgBusy)
	case errors.Is(err, processor.ErrNotReady):
		s.startError(w, http.StatusServiceUnavailable, msgNotReady)
	default:
		s.log.Error("api: stream start failed", "request_id", req.GatewayRequestID, "err", err)
		s.startError(w, http.StatusBadRequest, prefixStartErr+err.Error())
	}
}

// startError answers a start with an error and the current state.
func (s *Server) startError(w http.ResponseWriter, code int, msg string) {
	s.writeJSON(w, code, map[string]any{
		"status":        "error",
		"message":       msg,
		"current_state": s.b.State(),
	})
}

// handleStop serves POST {prefix}/stream/stop; the body is ignored. The
// stop runs to its end even if the client goes away.
func (s *Server) handleStop(w http.ResponseWriter, r *http.Request) {
	switch err := s.b.Stop(context.WithoutCancel(r.Context())); {
	case err == nil:
		s.writeJSON(w, http.StatusOK, map[string]any{"status": "success", "message": msgStopped})
	case errors.Is(err, processor.ErrNoStream):
		s.writeJSON(w, http.StatusBadRequest, errorBody(msgNoStreamStop))
	default:
		s.log.Error("api: stream stop failed", "err", err)
		s.writeJSON(w, http.StatusInternalServerError, errorBody(prefixStopErr+err.Error()))
	}
}

// handleParams serves POST {prefix}/stream/params: the body is validated
// before the stream is looked for, as in PyTrickle, but a bad body is 400
// (PyTrickle answers 500), and a handler failure is 500 (PyTrickle answers
// 200 and goes to ERROR).
func (s *Server) handleParams(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeJSON(w, bodyErrorCode(err), errorBody(prefixParamsErr+err.Error()))
		return
	}
	params, err := DecodeParams(r.Header.Get("Content-Type"), body)
	if err != nil {
		s.log.Info("api: bad params request", "err", err)
		s.writeJSON(w, http.StatusBadRequest, errorBody(prefixParamsErr+err.Error()))
		return
	}
	switch err := s.b.UpdateParams(context.WithoutCancel(r.Context()), params); {
	case err == nil:
		s.writeJSON(w, http.StatusOK, map[string]any{"status": "success", "message": msgParamsUpdated})
	case errors.Is(err, processor.ErrNoStream):
		s.writeJSON(w, http.StatusBadRequest, errorBody(msgNoStreamUpdate))
	default:
		s.log.Error("api: parameter update failed", "err", err)
		s.writeJSON(w, http.StatusInternalServerError, errorBody(prefixParamsErr+err.Error()))
	}
}

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, http.StatusOK, s.b.Status())
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, http.StatusOK, map[string]processor.State{"status": s.b.Health()})
}

func (s *Server) handleVersion(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, http.StatusOK, map[string]string{
		"pipeline": s.cfg.Pipeline,
		"model_id": s.cfg.ModelID,
		"version":  s.cfg.Version,
	})
}

func (s *Server) handleAppVersion(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, http.StatusOK, map[string]string{"version": s.cfg.AppVersion})
}

func (s *Server) handleHardwareInfo(w http.ResponseWriter, _ *http.Request) {
	info, _ := s.hardware()
	s.writeJSON(w, http.StatusOK, map[string]any{
		"pipeline": s.cfg.Pipeline,
		"model_id": s.cfg.ModelID,
		"gpu_info": info,
	})
}

func (s *Server) handleHardwareStats(w http.ResponseWriter, _ *http.Request) {
	_, stats := s.hardware()
	s.writeJSON(w, http.StatusOK, map[string]any{
		"pipeline":  s.cfg.Pipeline,
		"model_id":  s.cfg.ModelID,
		"gpu_stats": stats,
	})
}

// hardware calls Config.Hardware, giving empty maps for missing ones.
func (s *Server) hardware() (info, stats map[string]any) {
	if s.cfg.Hardware != nil {
		info, stats = s.cfg.Hardware()
	}
	if info == nil {
		info = map[string]any{}
	}
	if stats == nil {
		stats = map[string]any{}
	}
	return info, stats
}
