"""Training: QA fine-tuning (``finetune``) and SpanBERT continued pre-training (``pretrain`` + ``masking``)."""
