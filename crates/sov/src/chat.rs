//! The console's chat page asks the engine of `sov serve` in process ([`sov_console::chat`]
//! says why not through the LLM API).

use sov_console::chat::{ChatEnd, ChatEngine, ChatEvent, ChatRequest};
use sov_console::conversations::Stats;
use sov_engine::{ChatMessage, Engine, Event, FinishReason, Generate, Prompt, Sampling};
use tokio::sync::mpsc;

/// [`ChatEngine`] on the daemon's [`Engine`]: the same queue, models and metrics as the API.
pub struct EngineChat(pub Engine);

impl ChatEngine for EngineChat {
    fn models(&self) -> Vec<String> {
        self.0.models().map(|m| m.name.clone()).collect()
    }

    fn default_model(&self) -> Option<String> {
        self.0.default_model().map(str::to_owned)
    }

    fn generate(&self, request: ChatRequest) -> Result<mpsc::UnboundedReceiver<ChatEvent>, String> {
        // The model's configured sampling, with the conversation's temperature.
        let sampling = Sampling { temperature: request.temperature, ..self.0.sampling_defaults(&request.model) };
        let prompt = Prompt::Chat(
            request.messages.into_iter().map(|t| ChatMessage { role: t.role.to_owned(), content: t.content }).collect(),
        );
        let mut events = self
            .0
            .generate(Generate {
                model: request.model,
                prompt,
                sampling,
                max_tokens: request.max_tokens,
                stop: Vec::new(),
                constraint: None,
                ignore_eos: false,
            })
            .map_err(|e| e.to_string())?;
        let (out, answer) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    event = events.recv() => event,
                    // The page went away: dropping `events` cancels the generation.
                    () = out.closed() => return,
                };
                let (event, last) = match event {
                    Some(Event::Started { .. }) => (ChatEvent::Started, false),
                    Some(Event::Text(text)) => (ChatEvent::Text(text), false),
                    Some(Event::Done { finish, usage }) => {
                        let end = match finish {
                            FinishReason::Stop | FinishReason::StopString => ChatEnd::Stop,
                            FinishReason::Length => ChatEnd::Length,
                        };
                        let stats = Stats {
                            prompt_tokens: u32::try_from(usage.prompt_tokens).unwrap_or(u32::MAX),
                            completion_tokens: u32::try_from(usage.completion_tokens).unwrap_or(u32::MAX),
                            prompt_ms: usage.prompt_ms,
                            generation_ms: usage.generation_ms,
                        };
                        (ChatEvent::Done(end, stats), true)
                    }
                    Some(Event::Failed(e)) => (ChatEvent::Failed(e.to_string()), true),
                    Some(Event::Embeddings { .. }) => {
                        (ChatEvent::Failed("the engine answered with embeddings".into()), true)
                    }
                    None => return,
                };
                if out.send(event).is_err() || last {
                    return;
                }
            }
        });
        Ok(answer)
    }
}
