/** A page's heading row: title (the focus target after navigation), a line below it, actions on the right. */
import { type ReactNode, useEffect } from 'react';

interface PageHeadProps {
  title: ReactNode;
  /** Plain text for the browser tab, when the title is not plain text. */
  docTitle?: string;
  sub?: ReactNode;
  actions?: ReactNode;
  back?: ReactNode;
}

export function PageHead({ title, docTitle, sub, actions, back }: PageHeadProps) {
  const text = docTitle ?? (typeof title === 'string' ? title : undefined);
  useEffect(() => {
    if (text) document.title = `${text} · Portway`;
  }, [text]);
  return (
    <div className="page-head">
      <div className="page-head-main">
        {back ? <div className="page-back">{back}</div> : null}
        <h1 className="page-title" tabIndex={-1}>
          {title}
        </h1>
        {sub ? <div className="page-sub-wrap">{sub}</div> : null}
      </div>
      {actions ? <div className="page-actions">{actions}</div> : null}
    </div>
  );
}
